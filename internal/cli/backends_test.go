package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/cluster/kind"
	"github.com/canarylab/canarylab/cluster/local"
	"github.com/canarylab/canarylab/sim"
)

// The CLI is the one reader of canarylab's variables: each backend gets
// them as configuration.
func TestOpenBackendConfiguresFromTheEnvironment(t *testing.T) {
	t.Setenv("CANARYLAB_LOCAL_DIR", "/tmp/local-here")
	t.Setenv("CANARYLAB_KIND_DIR", "/tmp/kind-here")
	t.Setenv("CANARYLAB_CACHE_DIR", "/tmp/cache-here")
	t.Setenv("CANARYLAB_BIN_DIR", "/tmp/bin-here")
	t.Setenv("CANARYLAB_KEEP", "1")
	t.Setenv("CANARYLAB_ETCD", "/opt/etcd")

	backend, err := openBackend(local.Name)
	if err != nil {
		t.Fatal(err)
	}
	local := backend.(*local.Backend).Config
	if local.Dir != "/tmp/local-here" || local.CacheDir != "/tmp/cache-here" || local.BinDir != "/tmp/bin-here" || !local.Keep ||
		local.Overrides["etcd"] != "/opt/etcd" || local.Warmup == 0 {
		t.Errorf("local backend configured as %+v", local)
	}
	backend, err = openBackend(kind.Name)
	if err != nil {
		t.Fatal(err)
	}
	if kind := backend.(*kind.Backend).Config; kind.Dir != "/tmp/kind-here" || kind.CacheDir != "/tmp/cache-here" || !kind.Keep {
		t.Errorf("kind backend configured as %+v", kind)
	}
	if backend, err := openBackend(sim.Name); err != nil || backend.Name() != sim.Name {
		t.Errorf("sim: %v, %v", backend, err)
	}
	_, err = openBackend("moon")
	var usage *usageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "sim, local, kind") {
		t.Errorf("unknown backend: err = %v, want a usage error naming the backends", err)
	}
}
