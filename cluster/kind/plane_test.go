package kind

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/fixtures/demoapp"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/scenario/duration"
)

// The plane as the Session drives it, with an ingress that routes as the
// observed VirtualService says: the warm-up's load is sent but not
// counted, the weight follows the routes, and Finish counts every answer
// from the release by the version that gave it.
func TestPlaneThroughAnIngress(t *testing.T) {
	sc := loadScenario(t, "../../scenarios/canary-demo-promoted.yaml")
	sc.Spec.Load.RPS = 100
	sc.Spec.Release = "canarylab/demo:red" // answers half its requests with 500
	app := func(image string) http.Handler {
		profile := fixtures.Default()[image]
		profile.Startup = duration.Ptr(0)
		return demoapp.New(demoapp.Config{Image: image, Version: tagOf(image), Profile: profile})
	}
	stable, canary := app(sc.Spec.Stable), app(sc.Spec.Release)
	var canaryShare atomic.Int64 // percent
	var requests, wrongHost atomic.Int64
	ingress := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "demo.canarylab.local" {
			wrongHost.Add(1)
		}
		if requests.Add(1)%100 < canaryShare.Load() {
			canary.ServeHTTP(w, r)
			return
		}
		stable.ServeHTTP(w, r)
	}))
	defer ingress.Close()

	r, err := prepare(sc, Config{Log: quietLog(), Warmup: 300 * time.Millisecond}, runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.connect(&rest.Config{Host: "http://127.0.0.1:1"}, ingress.URL+"/"); err != nil {
		t.Fatal(err)
	}
	defer r.load.Stop()
	routes := func(weight int) cluster.Snapshot {
		return cluster.Snapshot{Routes: []cluster.Route{{Host: "demo-stable", Weight: 100 - weight}, {Host: "demo-canary", Weight: weight}},
			ReplicaSets: map[string]cluster.ReplicaSet{"aaa": {Hash: "aaa", Image: sc.Spec.Stable}}}
	}
	r.Follow(routes(0))
	ctx := context.Background()
	if err := r.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	warm := requests.Load()
	if warm == 0 {
		t.Fatal("no load during the warm-up")
	}
	var events []result.Event
	release := time.Now()
	if err := r.Start(ctx, release, routes(0), func(e result.Event) { events = append(events, e) }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(release.Add(1100 * time.Millisecond)))
	canaryShare.Store(50)
	r.Follow(routes(50))
	time.Sleep(time.Until(release.Add(2100 * time.Millisecond)))
	if class, ok := r.classOf("aaa"); !ok || class != scenario.TargetStable {
		t.Errorf("hash aaa is %q (%t), want stable", class, ok)
	}
	weight, live, _ := r.Live()
	if weight != 50 || live["stable"]+live["canary"] < 80 {
		t.Errorf("live: weight %d, last second %v", weight, live)
	}
	requestsSent, series := r.Finish()

	if wrongHost.Load() > 0 {
		t.Errorf("%d requests without the VirtualService's host", wrongHost.Load())
	}
	if requestsSent.Total < 180 || requestsSent.Total > requests.Load()-warm+5 {
		t.Errorf("%d answers counted, %d sent after a warm-up of %d: want the 2s after the release only", requestsSent.Total, requests.Load(), warm)
	}
	if requestsSent.Canary.Total < 30 || requestsSent.Canary.Failed == 0 {
		t.Errorf("canary %+v, want about half of the second second, half of them failed (red)", requestsSent.Canary)
	}
	if len(series.CanaryWeight) != 2 || series.CanaryWeight[0] != 0 || series.CanaryWeight[1] != 50 || series.Requests.Canary[0] != 0 {
		t.Errorf("series: weights %v, canary requests %v", series.CanaryWeight, series.Requests.Canary)
	}
	if len(events) != 1 || events[0].Type != result.WeightChanged || *events[0].CanaryWeight != 50 || events[0].AtSeconds < 1 {
		t.Errorf("events %+v, want one WeightChanged to 50 after 1s", events)
	}
}
