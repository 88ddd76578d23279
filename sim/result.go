package sim

import "github.com/canarylab/canarylab/result"

// result builds the Result from what the run observed.
func (r *run) result() *result.Result {
	res := &result.Result{
		Scenario: r.sc.Metadata.Name,
		Backend:  Name,
		Seed:     r.opts.Seed,
		Outcome:  r.engine.Outcome(),
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
