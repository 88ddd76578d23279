package sim

import (
	"strconv"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
)

// scheduleEvents puts the scenario's schedule (scenario.Schedule, the one
// the cluster backends follow too) on the clock.
func (r *run) scheduleEvents() {
	queue, last := scenario.Schedule(r.sc.Spec.Events, r.sc.Spec.Load.Duration.Duration)
	r.lastTimed = last
	for _, entry := range queue {
		r.loop.At(entry.At, func() { r.apply(entry) })
	}
}

// apply carries out one entry of the schedule.
func (r *run) apply(entry scenario.Timed) {
	switch entry.What {
	case scenario.TimedAction:
		r.applyAction(entry.Event)
	case scenario.TimedFaultStart:
		r.startFault(entry.Event)
	case scenario.TimedFaultEnd:
		r.endFault(entry.Event)
	case scenario.TimedRevert:
		r.ctrl.RevertWeights()
	}
}

// applyLive applies an action or fault from the live view now, through
// the same schedule as a timed event: its end and re-applies follow.
func (r *run) applyLive(event scenario.Event) {
	now := r.loop.Now()
	event.At.Duration = now
	queue, _ := scenario.Schedule([]scenario.Event{event}, r.sc.Spec.Load.Duration.Duration)
	for _, entry := range queue {
		if entry.At <= now {
			r.apply(entry)
			continue
		}
		r.loop.At(entry.At, func() { r.apply(entry) })
	}
}

func (r *run) applyAction(event scenario.Event) {
	emitted := result.Event{Type: result.ActionApplied, Action: event.Action}
	switch event.Action {
	case scenario.ActionPromote, scenario.ActionPromoteFull, scenario.ActionAbort, scenario.ActionRetry:
		r.ctrl.Action(event.Action)
	case scenario.ActionRelease:
		emitted.Image = event.Image
		r.emit(emitted)
		r.emit(result.Event{Type: result.ReleaseStarted, Image: event.Image})
		r.ctrl.Release(event.Image)
		return
	}
	r.emit(emitted)
}

func (r *run) startFault(event scenario.Event) {
	emitted := result.Event{Type: result.FaultStarted, Fault: event.Fault}
	switch event.Fault {
	case scenario.FaultMetricsOutage:
		r.metricsOutage++
	case scenario.FaultMetricsEmpty:
		r.metricsEmpty++
	case scenario.FaultPodKill:
		killed := r.world.KillPods(event.Target, event.Count)
		emitted.Message = pluralPods(killed, event.Target)
	case scenario.FaultCrashLoop:
		r.world.SetCrashLoop(event.Target, true)
	case scenario.FaultErrorInjection:
		r.world.SetErrorInjection(event.Target, *event.Rate)
	case scenario.FaultLatencyInjection:
		r.world.SetLatencyInjection(event.Target, event.Delay.Duration)
	case scenario.FaultNoTraffic:
		r.world.SetNoTraffic(true)
	case scenario.FaultControllerRestart:
		r.ctrl.SetDown(true)
	case scenario.FaultGitopsRevert:
		// The agent applies Git's weights at once; its later re-applies
		// are TimedRevert entries of the schedule.
		r.ctrl.RevertWeights()
	}
	r.emit(emitted)
}

func (r *run) endFault(event scenario.Event) {
	switch event.Fault {
	case scenario.FaultMetricsOutage:
		r.metricsOutage--
	case scenario.FaultMetricsEmpty:
		r.metricsEmpty--
	case scenario.FaultPodKill:
		return // instantaneous: the ReplicaSet replaces the pods
	case scenario.FaultCrashLoop:
		r.world.SetCrashLoop(event.Target, false)
	case scenario.FaultErrorInjection:
		r.world.SetErrorInjection(event.Target, 0)
	case scenario.FaultLatencyInjection:
		r.world.SetLatencyInjection(event.Target, 0)
	case scenario.FaultNoTraffic:
		r.world.SetNoTraffic(false)
	case scenario.FaultControllerRestart:
		r.ctrl.SetDown(false)
	}
	r.emit(result.Event{Type: result.FaultEnded, Fault: event.Fault})
}

func pluralPods(n int, target string) string {
	if n == 1 {
		return "deleted 1 " + target + " pod"
	}
	return "deleted " + strconv.Itoa(n) + " " + target + " pods"
}
