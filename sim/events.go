package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/canarylab/canarylab/engine"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// The run is the engine's Clock (the virtual one) and World (the models).
var (
	_ engine.Clock = (*run)(nil)
	_ engine.World = (*run)(nil)
)

// Now is the virtual time.
func (r *run) Now() time.Duration { return r.loop.Now() }

// At schedules fn on the virtual clock.
func (r *run) At(t time.Duration, fn func()) { r.loop.At(t, fn) }

// Advance runs the clock's next callback; with a pace, it first waits for
// the wall clock to reach it, or returns a live action that arrives
// meanwhile at the virtual time of its click.
func (r *run) Advance(ctx context.Context, limit time.Duration, live <-chan scenario.Event) (*scenario.Event, bool, error) {
	next, ok := r.loop.Next()
	if !ok || next > limit {
		r.loop.RunUntil(limit, nil)
		return nil, false, r.loopErr()
	}
	if r.pacer != nil && next >= 0 { // the warm-up before the release is not watched
		action, err := r.pacer.waitUntil(ctx, next, live)
		if err != nil {
			return nil, false, err
		}
		if action != nil {
			r.loop.RunUntil(min(max(r.pacer.virtualNow(), r.loop.Now()), next), nil)
			return action, true, nil
		}
	}
	r.loop.Step(limit)
	if err := r.loopErr(); err != nil {
		return nil, false, err
	}
	return nil, true, r.scrapeErr
}

func (r *run) loopErr() error {
	if err := r.loop.Err(); err != nil {
		return fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	return nil
}

// Emit records an event; events before the release (the stable deploy)
// are not part of the timeline.
func (r *run) Emit(event result.Event) { r.emit(event) }

// Release starts a release on the controller model.
func (r *run) Release(_ context.Context, image string) error {
	r.ctrl.Release(image)
	return nil
}

// The operator's actions, on the controller model.
func (r *run) Promote(context.Context) error     { r.ctrl.Promote(); return nil }
func (r *run) PromoteFull(context.Context) error { r.ctrl.PromoteFull(); return nil }
func (r *run) Abort(context.Context) error       { r.ctrl.Abort(); return nil }
func (r *run) Retry(context.Context) error       { r.ctrl.Retry(); return nil }

// KillPods deletes the target's pods in the data plane.
func (r *run) KillPods(_ context.Context, target scenario.Target, count int) (int, error) {
	return r.world.KillPods(string(target), count), nil
}

// CrashLoop, ErrorRate, Latency and NoTraffic act on the data plane.
func (r *run) CrashLoop(_ context.Context, target scenario.Target, on bool) (string, error) {
	r.world.SetCrashLoop(string(target), on)
	return "", nil
}

func (r *run) ErrorRate(_ context.Context, target scenario.Target, rate float64) (string, error) {
	r.world.SetErrorInjection(string(target), rate)
	return "", nil
}

func (r *run) Latency(_ context.Context, target scenario.Target, delay time.Duration) (string, error) {
	r.world.SetLatencyInjection(string(target), delay)
	return "", nil
}

func (r *run) NoTraffic(_ context.Context, on bool) (string, error) {
	r.world.SetNoTraffic(on)
	return "", nil
}

// MetricsOutage and MetricsEmpty change what the analysis' queries get.
func (r *run) MetricsOutage(_ context.Context, on bool) (string, error) {
	r.metricsOutage = on
	return "", nil
}

func (r *run) MetricsEmpty(_ context.Context, on bool) (string, error) {
	r.metricsEmpty = on
	return "", nil
}

// ControllerDown stops the controller model's reconciles.
func (r *run) ControllerDown(_ context.Context, down bool) (string, error) {
	r.ctrl.SetDown(down)
	return "", nil
}

// RevertWeights puts the manifests' routing back.
func (r *run) RevertWeights(context.Context) error {
	r.ctrl.RevertWeights()
	return nil
}

// Outcome is the controller model's; a sim run ends on a whole second, so
// that its series holds whole seconds.
func (r *run) Outcome() (string, *time.Duration, bool) {
	outcome, since := r.ctrl.Outcome()
	return outcome, since, r.ctrl.Settled() && r.loop.Now()%time.Second == 0
}

// Live is the models' state and the last whole second's requests.
func (r *run) Live() engine.Live {
	stats := r.world.Stats()
	step, steps := r.ctrl.Step()
	last := func(series []int64) int64 {
		if len(series) == 0 {
			return 0
		}
		return series[len(series)-1]
	}
	return engine.Live{
		CanaryWeight: r.ctrl.RoutedCanaryWeight(),
		Step:         step,
		Steps:        steps,
		Phase:        r.ctrl.Phase(),
		Image:        r.ctrl.Image(),
		Detail:       r.ctrl.Detail(),
		Requests:     map[string]int64{"stable": last(stats.Requests["stable"]), "canary": last(stats.Requests["canary"])},
		Failed:       map[string]int64{"stable": last(stats.Errors["stable"]), "canary": last(stats.Errors["canary"])},
	}
}
