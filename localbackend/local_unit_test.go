package localbackend

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarylab/canarylab/clusterdriver"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/dataplane"
)

func loadScenario(t *testing.T, path string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestAnalysisAddressesPointAtTheDataPlane(t *testing.T) {
	sc := loadScenario(t, "../scenarios/bad-release-rolls-back.yaml")
	r, err := prepare(sc, DefaultConfig(), runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.plane = &plane{URL: "http://127.0.0.1:4242"}
	r.rewriteAnalysisAddresses()
	rewritten := 0
	for _, obj := range r.objects {
		if obj.GetKind() != "AnalysisTemplate" {
			continue
		}
		metrics, _, _ := unstructured.NestedSlice(obj.Object, "spec", "metrics")
		for _, m := range metrics {
			address, _, _ := unstructured.NestedString(m.(map[string]any), "provider", "prometheus", "address")
			if address != "http://127.0.0.1:4242" {
				t.Errorf("template %s: address %q", obj.GetName(), address)
			}
			rewritten++
		}
	}
	if rewritten == 0 {
		t.Fatal("no Prometheus metric found to rewrite")
	}
}

func TestReadyDelayFollowsProfiles(t *testing.T) {
	sc := loadScenario(t, "../scenarios/crash-looping-canary-rolls-back.yaml")
	r, err := prepare(sc, DefaultConfig(), runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.readyDelay("canarylab/demo:blue")[clusterdriver.PodReadyDelayAnnotation]; got != "3s" {
		t.Errorf("blue: delay %q, want 3s (start latency and the default start-up)", got)
	}
	if got := r.readyDelay("canarylab/demo:slow-start")[clusterdriver.PodReadyDelayAnnotation]; got != "41s" {
		t.Errorf("slow-start: delay %q, want 41s", got)
	}
	if got := r.readyDelay("canarylab/demo:crash")[clusterdriver.PodReadyDelayAnnotation]; got != "87600h" {
		t.Errorf("crash: delay %q, want never", got)
	}
}

func TestFlaggerScenarioIsABackendError(t *testing.T) {
	sc := loadScenario(t, "../scenarios/bad-release-rolls-back.yaml")
	sc.Spec.Controller = "flagger"
	_, err := (&Backend{Config: DefaultConfig()}).Run(t.Context(), sc, runner.Options{})
	if !errors.Is(err, runner.ErrBackend) {
		t.Fatalf("err = %v, want a backend error", err)
	}
}

// The data plane follows the cluster's objects: weights move as the
// VirtualService does, each change is a WeightChanged event, and the
// Prometheus API answers from the generated telemetry.
func TestPlaneFollowsSnapshots(t *testing.T) {
	p, err := newPlane()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	var events []result.Event
	p.emit = func(e result.Event) { events = append(events, e) }
	p.routed, p.canaryKey, p.entry = true, "demo-canary", "demo-stable"
	snapshot := clusterdriver.Snapshot{
		ReplicaSets: map[string]clusterdriver.ReplicaSet{"aaa": {Name: "demo-aaa", Hash: "aaa", Image: "canarylab/demo:blue", Desired: 4, Ready: 4}},
		Services:    map[string]string{"demo-stable": "aaa", "demo-canary": "aaa"},
		Routes:      []clusterdriver.Route{{Host: "demo-stable", Weight: 100}, {Host: "demo-canary", Weight: 0}},
	}
	profiles := sc(t).Profiles
	p.start(time.Now(), dataplane.Config{Namespace: "default", App: "demo", StableImage: "canarylab/demo:blue", Profiles: profiles, RPS: 100},
		snapshot, 2*time.Minute, 15*time.Second, time.Minute, 1)
	if len(events) != 0 {
		t.Fatalf("events at the start: %v", events)
	}
	snapshot.ReplicaSets["bbb"] = clusterdriver.ReplicaSet{Name: "demo-bbb", Hash: "bbb", Image: "canarylab/demo:red", Desired: 1, Ready: 1}
	snapshot.Services["demo-canary"] = "bbb"
	snapshot.Routes = []clusterdriver.Route{{Host: "demo-stable", Weight: 80}, {Host: "demo-canary", Weight: 20}}
	p.apply(snapshot)
	if len(events) != 1 || events[0].Type != result.WeightChanged || *events[0].CanaryWeight != 20 {
		t.Fatalf("events = %+v, want one WeightChanged to 20", events)
	}
	p.apply(snapshot)
	if len(events) != 1 {
		t.Errorf("an unchanged snapshot emitted %d more events", len(events)-1)
	}

	// The warm-up's stable traffic is queryable at once.
	query := `sum(increase(istio_requests_total{reporter="source",destination_service=~"demo-stable.default.svc.cluster.local"}[1m]))`
	response, err := http.Get(p.URL + "/api/v1/query?" + url.Values{"query": {query}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(response.Body)
	response.Body.Close()
	var decoded struct {
		Status string
		Data   struct{ Result []struct{ Value []any } }
	}
	if err := json.Unmarshal(body, &decoded); err != nil || decoded.Status != "success" || len(decoded.Data.Result) != 1 {
		t.Fatalf("query answered %s (%v)", body, err)
	}
	if value, _ := decoded.Data.Result[0].Value[1].(string); value == "0" || strings.HasPrefix(value, "-") {
		t.Errorf("stable requests over the last minute = %s, want the warm-up's traffic", value)
	}
}

func sc(t *testing.T) *scenario.Scenario {
	return loadScenario(t, "../scenarios/bad-release-rolls-back.yaml")
}
