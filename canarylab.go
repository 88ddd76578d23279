// Package canarylab replays Kubernetes progressive-delivery scenarios (a
// Rollout, its analysis templates, a release, load and faults) and checks
// what must happen: promoted within 5m, or rolled back within 90s with at
// most 2% of requests failed.
//
// Use it from go test:
//
//	sc, err := canarylab.Load("scenarios/bad-release-rolls-back.yaml")
//	res, err := canarylab.Run(ctx, sc, canarylab.Options{Seed: 1})
//	Expect(res).To(matchers.RollBackWithin(90 * time.Second))
package canarylab

import (
	"context"

	_ "github.com/canarylab/canarylab/backends"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

// Options of a run: the backend (default "sim") and the runner options.
type Options struct {
	Backend string
	runner.Options
}

// Result is the outcome of one run.
type Result = result.Result

// Scenario is a loaded scenario file.
type Scenario = scenario.Scenario

// Close stops what backends started for the process's runs (the local
// backend's control plane, when it started one). Call it once, when done.
func Close() error { return runner.Shutdown() }

// Load reads and validates a scenario file.
func Load(path string) (*Scenario, error) { return scenario.Load(path) }

// Run replays a scenario on the chosen backend and evaluates its
// expectations. res.Passed tells whether they held.
func Run(ctx context.Context, sc *Scenario, opts Options) (*Result, error) {
	backend := opts.Backend
	if backend == "" {
		backend = sim.Name
	}
	return runner.Run(ctx, backend, sc, opts.Options)
}
