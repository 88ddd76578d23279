package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/scenario/duration"
)

// world records what the engine asks of it, at the clock's time.
type world struct {
	now      *time.Duration
	calls    []string
	events   []string
	outcome  string
	since    *time.Duration
	settled  bool
	failWith error
	// abortTakes is how long an abort's call takes on the clock.
	abortTakes time.Duration
}

func (w *world) call(format string, args ...any) error {
	w.calls = append(w.calls, fmt.Sprintf("%s ", *w.now)+fmt.Sprintf(format, args...))
	return w.failWith
}

func (w *world) Emit(e result.Event) {
	w.events = append(w.events, strings.TrimSpace(fmt.Sprintf("%gs %s %s%s%s %s", e.AtSeconds, e.Type, e.Action, e.Fault, e.Image, e.Message)))
}
func (w *world) Release(_ context.Context, image string) error { return w.call("release %s", image) }
func (w *world) Promote(context.Context) error                 { return w.call("promote") }
func (w *world) PromoteFull(context.Context) error             { return w.call("promote-full") }
func (w *world) Abort(context.Context) error {
	*w.now += w.abortTakes
	return w.call("abort")
}
func (w *world) Retry(context.Context) error { return w.call("retry") }
func (w *world) KillPods(_ context.Context, target scenario.Target, count int) (int, error) {
	return count, w.call("kill %d %s", count, target)
}
func (w *world) RevertWeights(context.Context) error { return w.call("revert") }
func (w *world) CrashLoop(_ context.Context, target scenario.Target, on bool) (string, error) {
	return "", w.call("crash-loop %s %t", target, on)
}
func (w *world) ErrorRate(_ context.Context, target scenario.Target, rate float64) (string, error) {
	return "", w.call("error-rate %s %g", target, rate)
}
func (w *world) Latency(_ context.Context, target scenario.Target, delay time.Duration) (string, error) {
	return "", w.call("latency %s %s", target, delay)
}
func (w *world) NoTraffic(_ context.Context, on bool) (string, error) {
	return "", w.call("no-traffic %t", on)
}
func (w *world) MetricsOutage(_ context.Context, on bool) (string, error) {
	return "Prometheus down", w.call("outage %t", on)
}
func (w *world) MetricsEmpty(_ context.Context, on bool) (string, error) {
	return "", w.call("empty %t", on)
}
func (w *world) ControllerDown(_ context.Context, down bool) (string, error) {
	return "", w.call("controller-down %t", down)
}
func (w *world) Outcome() (string, *time.Duration, bool) { return w.outcome, w.since, w.settled }
func (w *world) Live() Live {
	return Live{CanaryWeight: 20, Image: "canarylab/demo:red", Requests: map[string]int64{"canary": 2}}
}

func dur(d time.Duration) duration.Duration { return duration.Duration{Duration: d} }

// newRun is a run on a wall clock whose time moves one second per step.
func newRun(events []scenario.Event, limit time.Duration, controller string) (*Run, *world) {
	now := new(time.Duration)
	w := &world{now: now, outcome: scenario.OutcomeDegraded}
	sc := &scenario.Scenario{Metadata: scenario.Metadata{Name: "test"}, Spec: scenario.Spec{Controller: controller,
		Stable: "canarylab/demo:blue", Release: "canarylab/demo:red", Events: events,
		Load: scenario.Traffic{RPS: 10, Duration: dur(limit)}}}
	clock := &Wall{Time: func() time.Duration { return *now }, Tick: time.Microsecond,
		Sync: func() error { *now += time.Second; return nil }}
	return &Run{Scenario: sc, Clock: clock, World: w}, w
}

// Every action and fault goes to its method at its time, a fault's end
// turns it off, overlapping outages turn Prometheus off once, and the
// timeline records each.
func TestDispatch(t *testing.T) {
	t.Parallel()
	rate := 0.3
	events := []scenario.Event{
		{At: dur(1 * time.Second), Fault: scenario.FaultMetricsOutage, For: dur(4 * time.Second)},
		{At: dur(2 * time.Second), Fault: scenario.FaultMetricsOutage, For: dur(1 * time.Second)},
		{At: dur(2 * time.Second), Fault: scenario.FaultErrorInjection, Target: "canary", Rate: &rate, For: dur(2 * time.Second)},
		{At: dur(3 * time.Second), Fault: scenario.FaultPodKill, Target: "stable", Count: 2},
		{At: dur(3 * time.Second), Fault: scenario.FaultLatencyInjection, Target: "all", Delay: dur(time.Second)},
		{At: dur(4 * time.Second), Fault: scenario.FaultGitopsRevert, Every: dur(2 * time.Second), For: dur(5 * time.Second)},
		{At: dur(5 * time.Second), Fault: scenario.FaultControllerRestart, For: dur(time.Second)},
		{At: dur(5 * time.Second), Fault: scenario.FaultCrashLoop, Target: "canary", For: dur(time.Second)},
		{At: dur(6 * time.Second), Fault: scenario.FaultNoTraffic, For: dur(time.Second)},
		{At: dur(6 * time.Second), Fault: scenario.FaultMetricsEmpty},
		{At: dur(7 * time.Second), Action: scenario.ActionPromote},
		{At: dur(7 * time.Second), Action: scenario.ActionPromoteFull},
		{At: dur(8 * time.Second), Action: scenario.ActionAbort},
		{At: dur(8 * time.Second), Action: scenario.ActionRetry},
		{At: dur(9 * time.Second), Action: scenario.ActionRelease, Image: "canarylab/demo:green"},
	}
	run, w := newRun(events, 10*time.Second, scenario.ControllerArgoRollouts)
	if err := run.Loop(t.Context()); err != nil {
		t.Fatal(err)
	}
	// At the same time, entries keep the order of spec.events (an event's
	// end where the event is).
	want := []string{"1s release canarylab/demo:red", "1s outage true", "2s error-rate canary 0.3", "3s kill 2 stable",
		"3s latency all 1s", "4s error-rate canary 0", "4s revert", "5s outage false", "5s controller-down true",
		"5s crash-loop canary true", "6s revert", "6s controller-down false", "6s crash-loop canary false",
		"6s no-traffic true", "6s empty true", "7s no-traffic false", "7s promote", "7s promote-full", "8s revert",
		"8s abort", "8s retry", "9s release canarylab/demo:green"}
	if got := strings.Join(w.calls, "|"); got != strings.Join(want, "|") {
		t.Errorf("calls:\n got %s\nwant %s", got, strings.Join(want, "|"))
	}
	for _, event := range []string{"0s ReleaseStarted canarylab/demo:red", "1s FaultStarted metrics-outage Prometheus down",
		"2s FaultStarted metrics-outage", "3s FaultStarted pod-kill deleted 2 stable pods", "3s FaultEnded metrics-outage",
		"9s FaultEnded gitops-revert", "9s ActionApplied releasecanarylab/demo:green", "9s ReleaseStarted canarylab/demo:green"} {
		if !strings.Contains(strings.Join(w.events, "|"), event) {
			t.Errorf("timeline has no %q:\n%s", event, strings.Join(w.events, "\n"))
		}
	}
}

// An action the scenario's controller does not have ends the run with an
// error naming it, before the backend sees it; so does a backend's error.
func TestActionsAndErrors(t *testing.T) {
	t.Parallel()
	run, w := newRun([]scenario.Event{{At: dur(2 * time.Second), Action: scenario.ActionRetry}}, time.Minute, scenario.ControllerFlagger)
	err := run.Loop(t.Context())
	if err == nil || !strings.Contains(err.Error(), "at 2s: action retry: the flagger controller has no such action") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(strings.Join(w.calls, "|"), "retry") {
		t.Errorf("the backend was asked to retry: %v", w.calls)
	}
	run, w = newRun([]scenario.Event{{At: dur(2 * time.Second), Action: scenario.ActionAbort}}, time.Minute, scenario.ControllerArgoRollouts)
	w.failWith = fmt.Errorf("the API server said no")
	if err := run.Loop(t.Context()); err == nil || err.Error() != "at 0s: the API server said no" {
		t.Errorf("err = %v, want the release's error at its time", err)
	}
}

// An action is recorded at the time it was issued, not when its call
// returned: what the controller did meanwhile comes after it.
func TestActionTimeIsWhenIssued(t *testing.T) {
	t.Parallel()
	run, w := newRun([]scenario.Event{{At: dur(2 * time.Second), Action: scenario.ActionAbort}}, 5*time.Second, scenario.ControllerArgoRollouts)
	w.abortTakes = 300 * time.Millisecond
	if err := run.Loop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(w.calls, "|"), "2.3s abort") || !strings.Contains(strings.Join(w.events, "|"), "2s ActionApplied abort") {
		t.Errorf("calls %v, events %v: want the abort recorded at 2s", w.calls, w.events)
	}
}

// A final, settled outcome ends the run once past the last timed event;
// the outcome's time is its own, or now when it has none.
func TestFinished(t *testing.T) {
	t.Parallel()
	run, w := newRun([]scenario.Event{{At: dur(3 * time.Second), Fault: scenario.FaultNoTraffic}}, time.Minute, "")
	since := time.Second
	w.outcome, w.since, w.settled = scenario.OutcomePromoted, &since, true
	if err := run.Loop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if now := run.Clock.Now(); now != 4*time.Second {
		t.Errorf("ended at %s, want 4s: the first step past the last timed event", now)
	}
	if got := run.Outcome(); got != (result.Outcome{Result: scenario.OutcomePromoted, AtSeconds: 1}) {
		t.Errorf("outcome %+v", got)
	}
	w.outcome, w.since = scenario.OutcomeDegraded, nil
	if got := run.Outcome(); got.AtSeconds != 4 {
		t.Errorf("degraded outcome at %gs, want now (4s)", got.AtSeconds)
	}
	// Promoted but not settled: the run goes on to its limit.
	run, w = newRun(nil, 10*time.Second, "")
	w.outcome, w.since = scenario.OutcomePromoted, &since
	if err := run.Loop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if now := run.Clock.Now(); now != 10*time.Second {
		t.Errorf("ended at %s, want the limit", now)
	}
}

// A live fault joins the clock's queue with its end; an end due after the
// run is never applied. The live view gets one state per second.
func TestLiveEventsAndState(t *testing.T) {
	t.Parallel()
	run, w := newRun(nil, 5*time.Second, "")
	actions := make(chan scenario.Event, 2)
	actions <- scenario.Event{Fault: scenario.FaultNoTraffic, For: dur(2 * time.Second)}
	actions <- scenario.Event{Fault: scenario.FaultControllerRestart, For: dur(time.Hour)}
	var states []runner.State
	run.Options = runner.Options{Actions: actions, State: func(_ string, s runner.State) { states = append(states, s) }}
	if err := run.Loop(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := "1s release canarylab/demo:red|1s no-traffic true|1s controller-down true|3s no-traffic false"
	if got := strings.Join(w.calls, "|"); got != want {
		t.Errorf("calls:\n got %s\nwant %s", got, want)
	}
	if len(states) != 5 || states[0].AtSeconds != 1 || states[4].AtSeconds != 5 || states[0].CanaryWeight != 20 ||
		states[0].Requests["canary"] != 2 || states[0].Images["canary"] != "canarylab/demo:red" {
		t.Errorf("%d states, first %+v", len(states), states[0])
	}
}

func TestInterrupted(t *testing.T) {
	t.Parallel()
	run, _ := newRun(nil, time.Hour, "")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := run.Loop(ctx); err == nil || err.Error() != "run interrupted at 0s: context canceled" {
		t.Errorf("err = %v", err)
	}
}
