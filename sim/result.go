package sim

import (
	"time"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/argorollouts"
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

// outcome is the rollout's final state (DESIGN.md, Outcomes).
func (r *run) outcome() result.Outcome {
	now := r.loop.Now()
	at := func(t *time.Duration) float64 {
		if t == nil {
			return result.Seconds(now)
		}
		return result.Seconds(*t)
	}
	switch {
	case r.ctrl.FullyPromoted() && r.ctrl.Phase() == argorollouts.PhaseHealthy && r.ctrl.PromotedAt != nil:
		return result.Outcome{Result: scenario.OutcomePromoted, AtSeconds: at(r.ctrl.PromotedAt)}
	case r.ctrl.AbortedAt != nil:
		return result.Outcome{Result: scenario.OutcomeRolledBack, AtSeconds: at(r.ctrl.AbortedAt)}
	case r.ctrl.Phase() == argorollouts.PhasePaused:
		return result.Outcome{Result: scenario.OutcomePaused, AtSeconds: at(r.ctrl.PausedAt)}
	}
	return result.Outcome{Result: scenario.OutcomeDegraded, AtSeconds: result.Seconds(now)}
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
		Requests:     map[string]int64{"stable": last(stats.Requests["stable"]), "canary": last(stats.Requests["canary"])},
		Failed:       map[string]int64{"stable": last(stats.Errors["stable"]), "canary": last(stats.Errors["canary"])},
		Colors:       map[string]string{"stable": color(r.sc.Spec.Stable), "canary": color(r.ctrl.Image())},
		Images:       map[string]string{"stable": r.sc.Spec.Stable, "canary": r.ctrl.Image()},
	}
}
