//go:build local

package controlplane

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
)

// Flagger on the real control plane: its binary (from the cache, built on
// first use), its CRDs, one controller started for a run and stopped, and
// a controller a run left behind stopped by Down.
func TestFlaggerStartsAndStops(t *testing.T) {
	cacheDir := os.Getenv("CANARYLAB_CACHE_DIR")
	if cacheDir == "" {
		var err error
		if cacheDir, err = DefaultCacheDir(); err != nil {
			t.Fatal(err)
		}
	}
	builder := &Builder{CacheDir: cacheDir, BinDir: os.Getenv("CANARYLAB_BIN_DIR")}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	state, err := Up(ctx, Options{Dir: dir, Builder: builder})
	if err != nil {
		t.Fatal(err)
	}
	defer Down(dir, false)

	started := time.Now()
	binary, err := InstallFlagger(ctx, state, builder)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Flagger installed (binary and CRDs) in %s", time.Since(started).Round(10*time.Millisecond))

	// A Prometheus that answers Flagger's availability check (vector(1)).
	prometheus := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[0,"1"]}]}}`))
	}))
	defer prometheus.Close()
	flagger, err := state.StartFlagger(ctx, FlaggerOptions{Binary: binary, Namespace: "default", MetricsServer: prometheus.URL, EventWebhook: prometheus.URL + "/events"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Flagger ready %s after its start", flagger.Ready.Sub(flagger.Started).Round(10*time.Millisecond))

	config, err := state.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Resource(canaries).Namespace("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("listing Canaries: %v", err)
	}
	if err := flagger.Stop(); err != nil {
		t.Fatal(err)
	}
	if alive(flagger.PID) {
		t.Errorf("flagger (pid %d) still runs after Stop", flagger.PID)
	}

	// A controller whose run died is stopped by Down.
	left, err := state.StartFlagger(ctx, FlaggerOptions{Binary: binary, Namespace: "other", MetricsServer: prometheus.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := Down(dir, false); err != nil {
		t.Fatal(err)
	}
	if alive(left.PID) {
		t.Errorf("flagger (pid %d) a run left behind still runs after Down", left.PID)
	}
}
