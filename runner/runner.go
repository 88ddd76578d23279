// Package runner is what every backend implements and what every caller
// uses: the Backend interface, a registry that fails on an unknown name, run
// options, and the evaluation of a scenario's expectations against a Result.
package runner

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
)

// ErrBackend marks a run the backend could not carry out (exit code 3):
// missing binaries, a cluster that does not start, or manifests it cannot model.
var ErrBackend = errors.New("backend could not run")

// Options of one run.
type Options struct {
	// Seed makes a sim run reproducible: the same seed gives the same result.
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

// Backend replays a scenario and reports what happened. Run returns a
// Result whenever it observed anything, also together with an error.
type Backend interface {
	// Name is the backend's name as given to --backend.
	Name() string
	// Run replays the scenario. It does not evaluate expectations.
	Run(ctx context.Context, sc *scenario.Scenario, opts Options) (*result.Result, error)
}

var (
	registryMu sync.RWMutex
	registry   = map[string]func() Backend{}
)

// Register makes a backend available by name; registering a name twice is a
// programming error.
func Register(name string, factory func() Backend) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, taken := registry[name]; taken {
		panic("runner: backend " + name + " registered twice")
	}
	registry[name] = factory
}

// Names lists the registered backends.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the named backend, or an error naming the known ones.
func Lookup(name string) (Backend, error) {
	registryMu.RLock()
	factory, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: unknown backend %q: use one of %s", scenario.ErrInvalid, name, strings.Join(Names(), ", "))
	}
	return factory(), nil
}

// Run replays sc on the named backend and evaluates its expectations.
func Run(ctx context.Context, backendName string, sc *scenario.Scenario, opts Options) (*result.Result, error) {
	backend, err := Lookup(backendName)
	if err != nil {
		return nil, err
	}
	res, err := backend.Run(ctx, sc, opts)
	if res != nil {
		if err != nil && res.Error == "" {
			res.Error = err.Error()
		}
		Evaluate(sc, res)
	}
	return res, err
}

var (
	shutdownMu sync.Mutex
	shutdowns  []func() error
)

// RegisterShutdown adds what a backend must do before the process exits
// (stop a cluster it started for its runs).
func RegisterShutdown(fn func() error) {
	shutdownMu.Lock()
	defer shutdownMu.Unlock()
	shutdowns = append(shutdowns, fn)
}

// Shutdown runs every backend's shutdown; callers run it once their runs are
// done, also after an interrupt.
func Shutdown() error {
	shutdownMu.Lock()
	defer shutdownMu.Unlock()
	var errs []error
	for _, fn := range shutdowns {
		if err := fn(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
