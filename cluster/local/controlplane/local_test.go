//go:build local

package controlplane

import (
	"context"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
)

// The real control plane: built (or taken from the cache), started,
// serving, and stopped without leaving a process behind. Run with
// `go test -tags local ./cluster/local/controlplane/` (Taskfile: task local); the first
// run builds the binaries, about 10 minutes on 2 cores.
func TestUpAndDown(t *testing.T) {
	cacheDir := os.Getenv("CANARYLAB_CACHE_DIR")
	if cacheDir == "" {
		var err error
		if cacheDir, err = DefaultCacheDir(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	started := time.Now()
	state, err := Up(ctx, Options{Dir: dir, Builder: &Builder{CacheDir: cacheDir, BinDir: os.Getenv("CANARYLAB_BIN_DIR")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("up in %s", time.Since(started).Round(100*time.Millisecond))
	defer Down(dir, false)
	if !state.Running() {
		t.Fatal("not every process runs after Up")
	}
	config, err := state.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	list, err := client.Resource(crds).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"rollouts.argoproj.io": false, "analysistemplates.argoproj.io": false, "virtualservices.networking.istio.io": false}
	for _, item := range list.Items {
		if _, ok := want[item.GetName()]; ok {
			want[item.GetName()] = true
		}
	}
	for name, found := range want {
		if !found {
			t.Errorf("CRD %s is not installed", name)
		}
	}
	if _, err := Up(ctx, Options{Dir: dir, Builder: &Builder{CacheDir: cacheDir}}); err == nil {
		t.Error("a second Up in the same directory did not refuse")
	}
	if err := Down(dir, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range state.Processes {
		if alive(p.PID) {
			t.Errorf("%s (pid %d) still runs after Down", p.Name, p.PID)
		}
	}
}
