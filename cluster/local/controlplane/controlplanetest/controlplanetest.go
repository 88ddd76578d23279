// Package controlplanetest gives tests a running local control plane.
package controlplanetest

import (
	"context"
	"os"
	"testing"

	"github.com/canarylab/canarylab/cluster/local/controlplane"
)

// Cluster reuses the control plane in CANARYLAB_LOCAL_DIR when one runs
// there, else starts one in a temporary directory and stops it when the
// test ends. Binaries come from CANARYLAB_BIN_DIR or the cache
// (CANARYLAB_CACHE_DIR, default the user cache directory), built on first
// use. Flagger's CRDs are applied too (from its module; the flagger binary
// is not built), so that Canaries and MetricTemplates are known kinds.
func Cluster(t testing.TB, ctx context.Context) *controlplane.State {
	t.Helper()
	builder := Builder(t)
	if dir := os.Getenv("CANARYLAB_LOCAL_DIR"); dir != "" {
		if state, err := controlplane.ReadState(dir); err == nil && state.Running() {
			if err := controlplane.InstallFlaggerCRDs(ctx, state, builder); err != nil {
				t.Fatal(err)
			}
			return state
		}
	}
	dir := t.TempDir()
	state, err := controlplane.Up(ctx, controlplane.Options{Dir: dir, Builder: builder})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := controlplane.Down(dir, false); err != nil {
			t.Error(err)
		}
	})
	if err := controlplane.InstallFlaggerCRDs(ctx, state, builder); err != nil {
		t.Fatal(err)
	}
	return state
}

// Builder finds the binaries in CANARYLAB_BIN_DIR or the cache
// (CANARYLAB_CACHE_DIR, default the user cache directory).
func Builder(t testing.TB) *controlplane.Builder {
	t.Helper()
	cacheDir := os.Getenv("CANARYLAB_CACHE_DIR")
	if cacheDir == "" {
		var err error
		if cacheDir, err = controlplane.DefaultCacheDir(); err != nil {
			t.Fatal(err)
		}
	}
	return &controlplane.Builder{CacheDir: cacheDir, BinDir: os.Getenv("CANARYLAB_BIN_DIR"), Overrides: controlplane.OverridesFrom(os.Getenv)}
}
