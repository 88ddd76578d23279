package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/canarylab/canarylab/cluster/kind"
	"github.com/canarylab/canarylab/cluster/local"
	"github.com/canarylab/canarylab/cluster/local/controlplane"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/sim"
)

// backendNames are the backends --backend and --against name.
var backendNames = []string{sim.Name, local.Name, kind.Name}

// backendMaker makes a backend by name; tests pass their own.
type backendMaker func(name string) (runner.Backend, error)

// openBackend makes the backend named name, its directories from the
// environment: the one place that reads canarylab's variables
// (CANARYLAB_LOCAL_DIR, CANARYLAB_KIND_DIR, CANARYLAB_CACHE_DIR,
// CANARYLAB_BIN_DIR, CANARYLAB_KEEP, CANARYLAB_<BINARY>).
func openBackend(name string) (runner.Backend, error) {
	keep := os.Getenv("CANARYLAB_KEEP") != ""
	switch name {
	case sim.Name:
		return sim.New(), nil
	case local.Name:
		cfg := local.DefaultConfig()
		cfg.Dir, cfg.CacheDir, cfg.BinDir, cfg.Keep = os.Getenv("CANARYLAB_LOCAL_DIR"), os.Getenv("CANARYLAB_CACHE_DIR"), os.Getenv("CANARYLAB_BIN_DIR"), keep
		cfg.Overrides = controlplane.OverridesFrom(os.Getenv)
		return local.New(cfg), nil
	case kind.Name:
		return kind.New(kind.Config{Dir: os.Getenv("CANARYLAB_KIND_DIR"), CacheDir: os.Getenv("CANARYLAB_CACHE_DIR"), Keep: keep}), nil
	}
	return nil, &usageError{fmt.Errorf("unknown backend %q: use one of %s", name, strings.Join(backendNames, ", "))}
}

// closeBackends closes what the command opened and joins what failed
// into err (a backend that cannot stop its cluster is exit 3).
func closeBackends(err error, backends ...runner.Backend) error {
	for _, backend := range backends {
		if backend == nil {
			continue
		}
		if closeErr := backend.Close(); closeErr != nil {
			closeErr = fmt.Errorf("%w: stopping what the %s backend started: %w", runner.ErrBackend, backend.Name(), closeErr)
			if err == nil {
				return closeErr
			}
			err = fmt.Errorf("%w\n%w", err, closeErr)
		}
	}
	return err
}
