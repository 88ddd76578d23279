// Package canarylab replays Kubernetes progressive-delivery scenarios (a
// Rollout, its analysis templates, a release, load and faults) and checks
// what must happen: promoted within 5m, or rolled back within 90s with at
// most 2% of requests failed.
//
// The package runs scenarios on the sim backend and depends on nothing
// else; the cluster backends are opt-in imports (local.New,
// kind.New) passed as Options.Backend. See Example for its use
// from go test.
package canarylab

import (
	"context"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

// Options of a run.
type Options struct {
	// Backend runs the scenario; nil is the sim. A cluster backend
	// (local.New, kind.New) is the caller's to Close.
	Backend runner.Backend
	// Seed makes a run reproducible: the same seed gives the same result.
	// 0 is runner.DefaultSeed, as for the CLI.
	Seed int64
	// Pace runs the sim clock at Pace x wall time; 0 runs as fast as it can.
	Pace float64
	// Keep leaves what a cluster backend started running after Close.
	Keep bool
	// Progress, if set, receives each timeline event as it happens.
	Progress func(scenarioName string, event result.Event)
	// State, if set, receives a snapshot of the rollout every second.
	State func(scenarioName string, state runner.State)
}

// Result is the outcome of one run.
type Result = result.Result

// Scenario is a loaded scenario file.
type Scenario = scenario.Scenario

// Load reads and validates a scenario file.
func Load(path string) (*Scenario, error) { return scenario.Load(path) }

// Run replays a scenario and evaluates its expectations. res.Passed tells
// whether they held.
func Run(ctx context.Context, sc *Scenario, opts Options) (*Result, error) {
	backend := opts.Backend
	if backend == nil {
		backend = sim.New()
	}
	return runner.Run(ctx, backend, sc, runner.Options{Seed: opts.Seed, Pace: opts.Pace, Keep: opts.Keep,
		Progress: opts.Progress, State: opts.State})
}
