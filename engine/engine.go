// Package engine runs a scenario on any backend. What a run is — the
// schedule of its events, the dispatch of actions and faults, when it is
// finished, its outcome and the live view's state — is written here once,
// over a World that each backend implements and a Clock that is virtual
// (the sim) or the wall's (a cluster). Live actions and the ends of faults
// go through the clock's one queue with the timed events, on the run's own
// goroutine: nothing of a run happens after it.
package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Clock is a run's time.
type Clock interface {
	// Now is the run time: the time since the release.
	Now() time.Duration
	// At has fn run at run time t on the run's goroutine, in the order of
	// t and, at the same t, of the calls.
	At(t time.Duration, fn func())
	// Advance moves time on by one step and runs what falls due in it: the
	// sim its next callback, a wall clock what is due at the next tick. It
	// returns early with an action or fault of live when one arrives; more
	// is false once the run's limit is reached.
	Advance(ctx context.Context, limit time.Duration, live <-chan scenario.Event) (action *scenario.Event, more bool, err error)
}

// World is what a backend does for a run: one method per action and per
// fault, and what it observes. Each fault method turns the fault on or
// off; its note, if any, is the FaultStarted event's message. The engine
// calls only the actions the scenario's controller has
// (scenario.ActionsFor).
type World interface {
	// Emit records an event on the run's timeline; its time is set.
	Emit(result.Event)

	Release(ctx context.Context, image string) error
	Promote(ctx context.Context) error
	PromoteFull(ctx context.Context) error
	Abort(ctx context.Context) error
	Retry(ctx context.Context) error

	// KillPods deletes up to count of the target's pods and says how many.
	KillPods(ctx context.Context, target scenario.Target, count int) (int, error)
	// RevertWeights is a GitOps agent applying the routing as Git has it.
	RevertWeights(ctx context.Context) error
	PlaneFaults

	// Outcome is the rollout's state so far (docs/architecture.md#outcomes):
	// the outcome and since when (nil: now), and whether the pods of a
	// promoted or rolled-back release have scaled down.
	Outcome() (outcome string, since *time.Duration, settled bool)
	// Live is the rollout as the live view shows it.
	Live() Live
}

// PlaneFaults are the faults that act on the traffic, the metrics or the
// controller: what a cluster backend's plane does, and the sim's models.
type PlaneFaults interface {
	CrashLoop(ctx context.Context, target scenario.Target, on bool) (string, error)
	ErrorRate(ctx context.Context, target scenario.Target, rate float64) (string, error)
	Latency(ctx context.Context, target scenario.Target, delay time.Duration) (string, error)
	NoTraffic(ctx context.Context, on bool) (string, error)
	MetricsOutage(ctx context.Context, on bool) (string, error)
	MetricsEmpty(ctx context.Context, on bool) (string, error)
	ControllerDown(ctx context.Context, down bool) (string, error)
}

// Live is a World's state for the live view: the rollout now, and the
// requests of the last whole second by version ("stable", "canary").
type Live struct {
	CanaryWeight     int
	Step, Steps      int
	Phase, Image     string
	Detail           string
	Requests, Failed map[string]int64
}

// Run is one scenario's run.
type Run struct {
	Scenario *scenario.Scenario
	Options  runner.Options
	Clock    Clock
	World    World
	// ReleaseNote is the message of the first ReleaseStarted event: what
	// the backend changed in the manifests.
	ReleaseNote string

	lastTimed        time.Duration
	stateSecond      int
	outages, empties int
	err              error
}

// Loop releases at time 0, applies the scenario's events and the live
// view's, and advances the clock until the run is finished or its limit
// is reached. Everything it scheduled runs within it.
func (e *Run) Loop(ctx context.Context) error {
	spec := e.Scenario.Spec
	limit := spec.Load.Duration.Duration
	e.stateSecond = -1
	e.Clock.At(0, func() {
		e.do(0, func() error { return e.release(ctx, 0, spec.Release, e.ReleaseNote) })
	})
	queue, last := scenario.Schedule(spec.Events, limit)
	e.lastTimed = last
	for _, entry := range queue {
		e.Clock.At(entry.At, func() { e.do(entry.At, func() error { return e.apply(ctx, entry) }) })
	}
	for {
		if err := ctx.Err(); err != nil {
			return e.interrupted(err)
		}
		action, more, err := e.Clock.Advance(ctx, limit, e.Options.Actions)
		switch {
		case err != nil && ctx.Err() != nil:
			return e.interrupted(ctx.Err())
		case err != nil:
			return err
		case e.err != nil:
			return e.err
		}
		if action != nil {
			e.applyLive(ctx, *action, limit)
			if e.err != nil {
				return e.err
			}
			continue
		}
		e.sendState()
		if !more || e.finished() {
			return nil
		}
	}
}

func (e *Run) interrupted(err error) error {
	return fmt.Errorf("run interrupted at %s: %w", e.Clock.Now().Truncate(time.Millisecond), err)
}

// do runs one entry of the schedule; the first error ends the run.
func (e *Run) do(at time.Duration, fn func() error) {
	if e.err != nil {
		return
	}
	if err := fn(); err != nil {
		e.err = fmt.Errorf("at %s: %w", at, err)
	}
}

// applyLive applies an action or fault of the live view now, through the
// same schedule as a timed event: its end and re-applies follow on the
// clock.
func (e *Run) applyLive(ctx context.Context, event scenario.Event, limit time.Duration) {
	now := e.Clock.Now()
	event.At.Duration = now
	queue, _ := scenario.Schedule([]scenario.Event{event}, limit)
	for _, entry := range queue {
		if entry.At <= now {
			e.do(now, func() error { return e.apply(ctx, entry) })
			continue
		}
		e.Clock.At(entry.At, func() { e.do(entry.At, func() error { return e.apply(ctx, entry) }) })
	}
}

// emit records an event at the clock's time.
func (e *Run) emit(event result.Event) {
	event.AtSeconds = result.Seconds(e.Clock.Now())
	e.World.Emit(event)
}

// release records ReleaseStarted at run time at (a wall clock's first
// tick comes a little after the release it stands for) and releases.
func (e *Run) release(ctx context.Context, at time.Duration, image, note string) error {
	e.World.Emit(result.Event{AtSeconds: result.Seconds(at), Type: result.ReleaseStarted, Image: image, Message: note})
	return e.World.Release(ctx, image)
}

// apply carries out one entry of the schedule: the one dispatch of
// actions and faults, whatever the backend.
func (e *Run) apply(ctx context.Context, entry scenario.Timed) error {
	event := entry.Event
	switch entry.What {
	case scenario.TimedRevert:
		return e.World.RevertWeights(ctx)
	case scenario.TimedAction:
		return e.act(ctx, event)
	}
	on := entry.What == scenario.TimedFaultStart
	w := e.World
	var note string
	var err error
	switch event.Fault {
	case scenario.FaultPodKill:
		if !on {
			return nil // instantaneous: the ReplicaSet replaces the pods
		}
		var killed int
		killed, err = w.KillPods(ctx, event.Target, event.Count)
		note = podsDeleted(killed, event.Target)
	case scenario.FaultCrashLoop:
		note, err = w.CrashLoop(ctx, event.Target, on)
	case scenario.FaultErrorInjection:
		rate := 0.0
		if on {
			rate = *event.Rate
		}
		note, err = w.ErrorRate(ctx, event.Target, rate)
	case scenario.FaultLatencyInjection:
		delay := time.Duration(0)
		if on {
			delay = event.Delay.Duration
		}
		note, err = w.Latency(ctx, event.Target, delay)
	case scenario.FaultNoTraffic:
		note, err = w.NoTraffic(ctx, on)
	case scenario.FaultMetricsOutage:
		// Outages may overlap: Prometheus answers again when the last ends.
		if count(&e.outages, on) {
			note, err = w.MetricsOutage(ctx, on)
		}
	case scenario.FaultMetricsEmpty:
		if count(&e.empties, on) {
			note, err = w.MetricsEmpty(ctx, on)
		}
	case scenario.FaultControllerRestart:
		note, err = w.ControllerDown(ctx, on)
	case scenario.FaultGitopsRevert:
		// The agent applies Git's routing at once; its later re-applies
		// are TimedRevert entries, and its end stops them.
		if on {
			err = w.RevertWeights(ctx)
		}
	default:
		return fmt.Errorf("fault %q is not known", event.Fault)
	}
	if err != nil {
		return err
	}
	if on {
		e.emit(result.Event{Type: result.FaultStarted, Fault: string(event.Fault), Message: note})
	} else {
		e.emit(result.Event{Type: result.FaultEnded, Fault: string(event.Fault)})
	}
	return nil
}

// count adds a start or end to an overlap count and says whether it
// turned the fault on or off.
func count(n *int, on bool) bool {
	if on {
		*n++
		return *n == 1
	}
	*n--
	return *n == 0
}

// act applies an operator action the scenario's controller has.
func (e *Run) act(ctx context.Context, event scenario.Event) error {
	if !slices.Contains(scenario.ActionsFor(e.Scenario.Spec.Controller), event.Action) {
		return fmt.Errorf("action %s: the %s controller has no such action; it has %v", event.Action,
			e.Scenario.Spec.Controller, scenario.ActionsFor(e.Scenario.Spec.Controller))
	}
	applied := result.Event{Type: result.ActionApplied, Action: string(event.Action), Image: event.Image}
	// Recorded before the backend acts: on a cluster, what the action
	// causes (the controller's abort) may be observed before the call
	// returns, and the timeline must show the action first.
	e.emit(applied)
	var err error
	switch event.Action {
	case scenario.ActionRelease:
		return e.release(ctx, e.Clock.Now(), event.Image, "")
	case scenario.ActionPromote:
		err = e.World.Promote(ctx)
	case scenario.ActionPromoteFull:
		err = e.World.PromoteFull(ctx)
	case scenario.ActionAbort:
		err = e.World.Abort(ctx)
	case scenario.ActionRetry:
		err = e.World.Retry(ctx)
	}
	if err != nil {
		return fmt.Errorf("action %s: %w", event.Action, err)
	}
	return nil
}

// finished: the outcome is final, the rollout has settled, and no timed
// event of the scenario is still to come. At the moment of the last timed
// event its effect (a retry, a release) is not reconciled yet: the run
// goes on past it.
func (e *Run) finished() bool {
	now := e.Clock.Now()
	if now < 0 || now <= e.lastTimed {
		return false
	}
	outcome, _, settled := e.World.Outcome()
	return settled && (outcome == scenario.OutcomePromoted || outcome == scenario.OutcomeRolledBack)
}

// Outcome is the run's outcome now.
func (e *Run) Outcome() result.Outcome {
	outcome, since, _ := e.World.Outcome()
	at := e.Clock.Now()
	if since != nil {
		at = *since
	}
	return result.Outcome{Result: outcome, AtSeconds: result.Seconds(at)}
}

// sendState gives the live view the rollout's state once per second of
// run time.
func (e *Run) sendState() {
	now := e.Clock.Now()
	second := int(now / time.Second)
	if e.Options.State == nil || now < 0 || second <= e.stateSecond {
		return
	}
	e.stateSecond = second
	live := e.World.Live()
	sc := e.Scenario
	color := func(image string) string { return sc.Profiles[image].Color }
	e.Options.State(sc.Metadata.Name, runner.State{
		AtSeconds:    result.Seconds(now.Truncate(time.Second)),
		CanaryWeight: live.CanaryWeight,
		Step:         live.Step,
		Steps:        live.Steps,
		Phase:        live.Phase,
		Detail:       live.Detail,
		Requests:     map[string]int64{"stable": live.Requests["stable"], "canary": live.Requests["canary"]},
		Failed:       map[string]int64{"stable": live.Failed["stable"], "canary": live.Failed["canary"]},
		Colors:       map[string]string{"stable": color(sc.Spec.Stable), "canary": color(live.Image)},
		Images:       map[string]string{"stable": sc.Spec.Stable, "canary": live.Image},
	})
}

func podsDeleted(n int, target scenario.Target) string {
	if n == 1 {
		return "deleted 1 " + string(target) + " pod"
	}
	return "deleted " + strconv.Itoa(n) + " " + string(target) + " pods"
}
