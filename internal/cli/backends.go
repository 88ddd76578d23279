package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/canarylab/canarylab/kindbackend"
	"github.com/canarylab/canarylab/localbackend"
	"github.com/canarylab/canarylab/localcluster"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/sim"
)

// backendNames are the backends --backend and --against name.
var backendNames = []string{sim.Name, localbackend.Name, kindbackend.Name}

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
	case localbackend.Name:
		cfg := localbackend.DefaultConfig()
		cfg.Dir, cfg.CacheDir, cfg.BinDir, cfg.Keep = os.Getenv("CANARYLAB_LOCAL_DIR"), os.Getenv("CANARYLAB_CACHE_DIR"), os.Getenv("CANARYLAB_BIN_DIR"), keep
		cfg.Overrides = localcluster.OverridesFrom(os.Getenv)
		return localbackend.New(cfg), nil
	case kindbackend.Name:
		return kindbackend.New(kindbackend.Config{Dir: os.Getenv("CANARYLAB_KIND_DIR"), CacheDir: os.Getenv("CANARYLAB_CACHE_DIR"), Keep: keep}), nil
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
