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
// use.
func Cluster(t testing.TB, ctx context.Context) *localcluster.State {
	t.Helper()
	if dir := os.Getenv("CANARYLAB_LOCAL_DIR"); dir != "" {
		if state, err := localcluster.ReadState(dir); err == nil && state.Running() {
			return state
		}
	}
	cacheDir := os.Getenv("CANARYLAB_CACHE_DIR")
	if cacheDir == "" {
		var err error
		if cacheDir, err = localcluster.DefaultCacheDir(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	state, err := localcluster.Up(ctx, localcluster.Options{Dir: dir, Builder: &localcluster.Builder{CacheDir: cacheDir, BinDir: os.Getenv("CANARYLAB_BIN_DIR")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := localcluster.Down(dir, false); err != nil {
			t.Error(err)
		}
	})
	return state
}
