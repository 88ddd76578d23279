package sim

import (
	"time"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
)

// result builds the Result from what the run observed.
func (r *run) result() *result.Result {
	res := &result.Result{
		Scenario: r.sc.Metadata.Name,
		Backend:  Name,
		Seed:     r.opts.Seed,
		Outcome:  r.outcome(),
		Events:   r.events,
	}
	if res.Events == nil {
		res.Events = []result.Event{}
	}
	stats := r.world.Stats()
	res.Requests = stats.Counts()
	res.Series = stats.Series(r.weights)
	return res
}

// outcome is the rollout's final state (docs/architecture.md#outcomes).
func (r *run) outcome() result.Outcome {
	now := r.loop.Now()
	at := func(t *time.Duration) float64 {
		if t == nil {
			return result.Seconds(now)
		}
		return result.Seconds(*t)
	}
	outcome, when := r.ctrl.Outcome()
	return result.Outcome{Result: outcome, AtSeconds: at(when)}
}

// state is the live view's snapshot of the last second.
func (r *run) state() runner.State {
	stats := r.world.Stats()
	step, steps := r.ctrl.Step()
	last := func(series []int64) int64 {
		if len(series) == 0 {
			return 0
		}
		return series[len(series)-1]
	}
	color := func(image string) string { return r.sc.Profiles[image].Color }
	return runner.State{
		AtSeconds:    result.Seconds(r.loop.Now()),
		CanaryWeight: r.ctrl.RoutedCanaryWeight(),
		Step:         step,
		Steps:        steps,
		Phase:        r.ctrl.Phase(),
		Detail:       r.ctrl.Detail(),
		Requests:     map[string]int64{"stable": last(stats.Requests["stable"]), "canary": last(stats.Requests["canary"])},
		Failed:       map[string]int64{"stable": last(stats.Errors["stable"]), "canary": last(stats.Errors["canary"])},
		Colors:       map[string]string{"stable": color(r.sc.Spec.Stable), "canary": color(r.ctrl.Image())},
		Images:       map[string]string{"stable": r.sc.Spec.Stable, "canary": r.ctrl.Image()},
	}
}
