package sim

import (
	"strconv"

	"github.com/canarylab/canarylab/duration"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
)

// scheduleEvents puts the scenario's faults and actions on the clock.
func (r *run) scheduleEvents() {
	for _, event := range r.sc.Spec.Events {
		event := event
		at := event.At.Duration
		r.lastTimed = max(r.lastTimed, at)
		if event.Action != "" {
			r.loop.At(at, func() { r.applyAction(event) })
			continue
		}
		r.loop.At(at, func() { r.startFault(event) })
		if event.For.Duration > 0 {
			end := duration.Add(at, event.For.Duration)
			if end <= r.sc.Spec.Load.Duration.Duration {
				r.lastTimed = max(r.lastTimed, end)
			}
			r.loop.At(end, func() { r.endFault(event) })
		}
	}
}

// applyLive applies an action or fault from the live view now; a fault
// with a duration ends by itself.
func (r *run) applyLive(event scenario.Event) {
	if event.Action != "" {
		r.applyAction(event)
		return
	}
	event.At.Duration = r.loop.Now()
	r.startFault(event)
	if event.For.Duration > 0 {
		r.loop.After(event.For.Duration, func() { r.endFault(event) })
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
		end := r.sc.Spec.Load.Duration.Duration
		if event.For.Duration > 0 {
			end = duration.Add(event.At.Duration, event.For.Duration)
		}
		var revert func()
		revert = func() {
			r.ctrl.RevertWeights()
			if next := duration.Add(r.loop.Now(), event.Every.Duration); next < end {
				r.loop.At(next, revert)
			}
		}
		revert()
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
