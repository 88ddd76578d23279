// Package localclustertest gives tests a running local control plane.
package localclustertest

import (
	"context"
	"os"
	"testing"

	"github.com/canarylab/canarylab/localcluster"
)

// Cluster reuses the control plane in CANARYLAB_LOCAL_DIR when one runs
// there, else starts one in a temporary directory and stops it when the
// test ends. Binaries come from CANARYLAB_BIN_DIR or the cache
// (CANARYLAB_CACHE_DIR, default the user cache directory), built on first
// use. Flagger's CRDs are applied too (from its module; the flagger binary
// is not built), so that Canaries and MetricTemplates are known kinds.
func Cluster(t testing.TB, ctx context.Context) *localcluster.State {
	t.Helper()
	builder := Builder(t)
	if dir := os.Getenv("CANARYLAB_LOCAL_DIR"); dir != "" {
		if state, err := localcluster.ReadState(dir); err == nil && state.Running() {
			if err := localcluster.InstallFlaggerCRDs(ctx, state, builder); err != nil {
				t.Fatal(err)
			}
			return state
		}
	}
	dir := t.TempDir()
	state, err := localcluster.Up(ctx, localcluster.Options{Dir: dir, Builder: builder})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := localcluster.Down(dir, false); err != nil {
			t.Error(err)
		}
	})
	if err := localcluster.InstallFlaggerCRDs(ctx, state, builder); err != nil {
		t.Fatal(err)
	}
	return state
}

// Builder finds the binaries in CANARYLAB_BIN_DIR or the cache
// (CANARYLAB_CACHE_DIR, default the user cache directory).
func Builder(t testing.TB) *localcluster.Builder {
	t.Helper()
	cacheDir := os.Getenv("CANARYLAB_CACHE_DIR")
	if cacheDir == "" {
		var err error
		if cacheDir, err = localcluster.DefaultCacheDir(); err != nil {
			t.Fatal(err)
		}
	}
	return &localcluster.Builder{CacheDir: cacheDir, BinDir: os.Getenv("CANARYLAB_BIN_DIR"), Overrides: localcluster.OverridesFrom(os.Getenv)}
}
