package local

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

	"github.com/canarylab/canarylab/cluster"
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
	sc := loadScenario(t, "../../scenarios/bad-release-rolls-back.yaml")
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
	sc := loadScenario(t, "../../scenarios/crash-looping-canary-rolls-back.yaml")
	r, err := prepare(sc, DefaultConfig(), runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.readyDelay("canarylab/demo:blue")[cluster.PodReadyDelayAnnotation]; got != "3s" {
		t.Errorf("blue: delay %q, want 3s (start latency and the default start-up)", got)
	}
	if got := r.readyDelay("canarylab/demo:slow-start")[cluster.PodReadyDelayAnnotation]; got != "41s" {
		t.Errorf("slow-start: delay %q, want 41s", got)
	}
	if got := r.readyDelay("canarylab/demo:crash")[cluster.PodReadyDelayAnnotation]; got != "87600h" {
		t.Errorf("crash: delay %q, want never", got)
	}
}

// Linkerd canaries need the SMI TrafficSplit CRD, which no module the Go
// proxy serves ships for this Kubernetes: the run is refused as a backend
// error (exit 3) that says so, before any cluster is started.
func TestLinkerdCanaryIsRefused(t *testing.T) {
	sc := loadScenario(t, "testdata/flagger-linkerd.yaml")
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir() // no cluster there, and none may be started
	_, err := (&Backend{Config: cfg}).Run(t.Context(), sc, runner.Options{})
	if !errors.Is(err, runner.ErrBackend) || !errors.Is(err, ErrLinkerd) || !strings.Contains(err.Error(), "canary-linkerd.yaml:") {
		t.Fatalf("err = %v, want the Linkerd refusal naming the Canary's file:line", err)
	}
}

// What Flagger calls is pointed at the data plane: the templates' and the
// Canary's Prometheus, the loadtester's webhooks (path and query kept),
// event hooks; other webhooks are left alone, and the release says which.
func TestCanaryAddressesPointAtTheDataPlane(t *testing.T) {
	sc := loadScenario(t, "testdata/flagger-addresses.yaml")
	r, err := prepare(sc, DefaultConfig(), runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.plane = &plane{URL: "http://127.0.0.1:4242"}
	if err := r.rewriteCanaryAddresses("http://127.0.0.1:4242/flagger/events", "http://127.0.0.1:4242/loadtester/"); err != nil {
		t.Fatal(err)
	}
	templates := 0
	for _, obj := range r.objects {
		switch obj.GetKind() {
		case "MetricTemplate":
			templates++
			if address, _, _ := unstructured.NestedString(obj.Object, "spec", "provider", "address"); address != "http://127.0.0.1:4242" {
				t.Errorf("MetricTemplate %s: address %q", obj.GetName(), address)
			}
		case "Canary":
			if server, _, _ := unstructured.NestedString(obj.Object, "spec", "metricsServer"); server != "http://127.0.0.1:4242" {
				t.Errorf("metricsServer %q", server)
			}
			webhooks, _, _ := unstructured.NestedSlice(obj.Object, "spec", "analysis", "webhooks")
			want := map[string]string{
				"promotion-gate": "http://127.0.0.1:4242/loadtester/gate/check?x=1",
				"load-test":      "http://127.0.0.1:4242/loadtester/",
				"notify":         "http://127.0.0.1:4242/flagger/events",
				"smoke":          "http://smoke.test/run",
			}
			for _, w := range webhooks {
				hook := w.(map[string]any)
				if got := hook["url"]; got != want[hook["name"].(string)] {
					t.Errorf("webhook %s: url %v, want %s", hook["name"], got, want[hook["name"].(string)])
				}
			}
		}
	}
	if templates != 2 {
		t.Errorf("%d MetricTemplates, want 2", templates)
	}
	note := r.releaseNote()
	for _, part := range []string{"MetricTemplate canary-5xx provider.address", "Canary demo metricsServer", "webhook promotion-gate (loadtester)",
		"webhook load-test (loadtester)", "event webhook notify"} {
		if !strings.Contains(note, part) {
			t.Errorf("release note %q does not say %q", note, part)
		}
	}
	if strings.Contains(note, "smoke") {
		t.Errorf("release note %q names a webhook left alone", note)
	}
}

// The data plane follows Flagger's Deployments: the primary's and the
// target's ReplicaSets are their workloads, the Services select them by
// app label, the VirtualService's hosts carry the weights.
func TestPlaneFollowsFlaggerWorkloads(t *testing.T) {
	p, err := newPlane()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	var events []result.Event
	p.emit = func(e result.Event) { events = append(events, e) }
	p.routed, p.workloads, p.canaryKey, p.entry = true, true, "demo-canary", "demo"
	snapshot := cluster.Snapshot{
		ReplicaSets: map[string]cluster.ReplicaSet{
			"p1": {Name: "demo-primary-p1", Hash: "p1", Image: "canarylab/demo:blue", Desired: 4, Ready: 4, Workload: "demo-primary", Owner: "demo-primary"},
			"t1": {Name: "demo-t1", Hash: "t1", Image: "canarylab/demo:blue", Workload: "demo", Owner: "demo"},
		},
		Services:         map[string]string{},
		ServiceWorkloads: map[string]string{"demo": "demo-primary", "demo-primary": "demo-primary", "demo-canary": "demo"},
		Routes:           []cluster.Route{{Host: "demo-primary", Weight: 100}, {Host: "demo-canary", Weight: 0}},
	}
	profiles := sc(t).Profiles
	p.start(time.Now(), dataplane.Config{Namespace: "default", App: "demo", StableImage: "canarylab/demo:blue", Profiles: profiles, RPS: 100,
		Mesh: "istio", RoutedHost: "demo"}, snapshot, 2*time.Minute, 15*time.Second, time.Minute, 1)
	for hash, owner := range map[string]string{"p1": "demo-primary", "t1": "demo"} {
		if rs := p.world.ReplicaSet(hash); rs == nil || rs.Workload != owner {
			t.Errorf("ReplicaSet %s: %+v, want workload %s", hash, rs, owner)
		}
	}
	if service := p.world.Service("demo-canary"); service == nil || service.Workload != "demo" {
		t.Errorf("Service demo-canary = %+v, want the target's pods", service)
	}
	// The release: the target scaled up with the new image, then 25% to it.
	snapshot.ReplicaSets["t2"] = cluster.ReplicaSet{Name: "demo-t2", Hash: "t2", Image: "canarylab/demo:red", Desired: 4, Ready: 4, Workload: "demo", Owner: "demo"}
	snapshot.Routes = []cluster.Route{{Host: "demo-primary", Weight: 75}, {Host: "demo-canary", Weight: 25}}
	p.apply(snapshot)
	if len(events) != 1 || events[0].Type != result.WeightChanged || *events[0].CanaryWeight != 25 {
		t.Fatalf("events = %+v, want one WeightChanged to 25", events)
	}
	if weight := p.world.CanaryWeight("demo-canary"); weight != 25 {
		t.Errorf("routed canary weight %d, want 25", weight)
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
	snapshot := cluster.Snapshot{
		ReplicaSets: map[string]cluster.ReplicaSet{"aaa": {Name: "demo-aaa", Hash: "aaa", Image: "canarylab/demo:blue", Desired: 4, Ready: 4}},
		Services:    map[string]string{"demo-stable": "aaa", "demo-canary": "aaa"},
		Routes:      []cluster.Route{{Host: "demo-stable", Weight: 100}, {Host: "demo-canary", Weight: 0}},
	}
	profiles := sc(t).Profiles
	p.start(time.Now(), dataplane.Config{Namespace: "default", App: "demo", StableImage: "canarylab/demo:blue", Profiles: profiles, RPS: 100},
		snapshot, 2*time.Minute, 15*time.Second, time.Minute, 1)
	if len(events) != 0 {
		t.Fatalf("events at the start: %v", events)
	}
	snapshot.ReplicaSets["bbb"] = cluster.ReplicaSet{Name: "demo-bbb", Hash: "bbb", Image: "canarylab/demo:red", Desired: 1, Ready: 1}
	snapshot.Services["demo-canary"] = "bbb"
	snapshot.Routes = []cluster.Route{{Host: "demo-stable", Weight: 80}, {Host: "demo-canary", Weight: 20}}
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
	return loadScenario(t, "../../scenarios/bad-release-rolls-back.yaml")
}
