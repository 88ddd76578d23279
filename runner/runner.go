// Package runner is what every backend implements and what every caller
// uses: the Backend interface, run options, and the evaluation of a
// scenario's expectations against a Result.
package runner

import (
	"context"
	"errors"
	"time"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
)

// ErrBackend marks a run the backend could not carry out (exit code 3):
// missing binaries, a cluster that does not start, or manifests it cannot model.
var ErrBackend = errors.New("backend could not run")

// Options of one run.
type Options struct {
	// Seed makes a sim run reproducible: the same seed gives the same
	// result. 0 is DefaultSeed.
	Seed int64
	// Progress, if set, receives each timeline event as it happens.
	Progress func(scenarioName string, event result.Event)
	// Pace runs the sim clock at Pace× wall time; 0 runs as fast as it can.
	Pace float64
	// Actions, if set, delivers operator actions and faults to apply at
	// once (the live view's buttons). Events of this channel use the
	// scenario contract; their At is ignored.
	Actions <-chan scenario.Event
	// Keep leaves what a cluster backend started for the run (the local
	// control plane) running after it, for a look or the next run.
	Keep bool
	// State, if set, receives a snapshot of the rollout every second.
	State func(scenarioName string, state State)
}

// State is a snapshot of a running rollout, for the live view.
type State struct {
	AtSeconds float64 `json:"atSeconds"`
	// CanaryWeight is the routed canary weight.
	CanaryWeight int `json:"canaryWeight"`
	// Step is the current step index and Steps their number.
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// Phase is the rollout's phase (Healthy, Progressing, Paused, Degraded).
	Phase string `json:"phase"`
	// Detail is controller-specific progress: for Flagger the failed
	// checks against the threshold and the last check's values.
	Detail string `json:"detail,omitempty"`
	// Requests and Failed are of the last second, by version.
	Requests map[string]int64 `json:"requests"`
	Failed   map[string]int64 `json:"failed"`
	// Colors are the versions' colours from their profiles.
	Colors map[string]string `json:"colors"`
	// Images are the versions' images.
	Images map[string]string `json:"images"`
}

// Backend replays a scenario and reports what happened. A backend is a
// value with a lifecycle: made by its package's New (the CLI makes one by
// name), used for any number of runs, and closed once, which stops what
// it started for them (a cluster).
type Backend interface {
	// Name is the backend's name as given to --backend.
	Name() string
	// Run replays the scenario. It does not evaluate expectations. It
	// returns a Result whenever it observed anything, also together with
	// an error.
	Run(ctx context.Context, sc *scenario.Scenario, opts Options) (*result.Result, error)
	// Close stops what the backend started for its runs, unless it was
	// asked to keep it. Closing twice is harmless.
	Close() error
}

// DefaultSeed is the seed of a run that names none (Options.Seed 0), for
// the library and the CLI alike: the same file gives the same times from
// go test and from canarylab run.
const DefaultSeed = 1

// Run replays a scenario on backend and evaluates its expectations. The
// Result's Wall is how long backend.Run took on this machine (never in the
// JSON).
func Run(ctx context.Context, backend Backend, sc *scenario.Scenario, opts Options) (*result.Result, error) {
	if opts.Seed == 0 {
		opts.Seed = DefaultSeed
	}
	started := time.Now()
	res, err := backend.Run(ctx, sc, opts)
	wall := time.Since(started)
	if res != nil {
		res.Wall = wall
		if err != nil && res.Error == "" {
			res.Error = err.Error()
		}
		Evaluate(sc, res)
	}
	return res, err
}
