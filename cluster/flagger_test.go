package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
)

func TestDecodeCanary(t *testing.T) {
	t.Parallel()
	sc := load(t, "../conformance/flagger-promote-opens-gate.yaml")
	canary, objects, err := DecodeCanary(sc)
	if err != nil {
		t.Fatal(err)
	}
	if canary.Name != "demo" || canary.Namespace != "default" || canary.Target != "demo" || canary.Apex != "demo" ||
		canary.Interval != 10*time.Second || canary.Threshold != 2 || canary.Port != 80 || !strings.Contains(canary.Where, "flagger-canary-gates.yaml:") {
		t.Errorf("canary = %+v", canary)
	}
	if canary.PrimaryDeployment() != "demo-primary" || canary.PrimaryHost() != "demo-primary" || canary.CanaryHost() != "demo-canary" {
		t.Errorf("names: %s %s %s", canary.PrimaryDeployment(), canary.PrimaryHost(), canary.CanaryHost())
	}
	kinds := map[string]int{}
	for _, obj := range objects {
		kinds[obj.GetKind()]++
		if obj.GetNamespace() != "default" || obj.GetLabels()[ManagedByLabel] != ManagedBy {
			t.Errorf("%s %s: namespace %q, labels %v", obj.GetKind(), obj.GetName(), obj.GetNamespace(), obj.GetLabels())
		}
	}
	if kinds["Deployment"] != 1 || kinds["Canary"] != 1 || kinds["MetricTemplate"] != 2 {
		t.Errorf("kinds = %v", kinds)
	}
}

func canaryObject(phase string, failedChecks int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": "demo", "namespace": "default"},
		"status": map[string]any{"phase": phase, "failedChecks": failedChecks,
			"conditions": []any{map[string]any{"type": "Promoted", "message": "msg " + phase}}}}}
}

func deploymentReplicaSet(owner, hash, image, app string, desired, ready int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet",
		"metadata": map[string]any{"name": owner + "-" + hash, "namespace": "default", "labels": map[string]any{"pod-template-hash": hash},
			"ownerReferences": []any{map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "uid": "u-" + owner}}},
		"spec": map[string]any{"replicas": desired, "template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": app, "pod-template-hash": hash}},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "demo", "image": image}}}}},
		"status": map[string]any{"readyReplicas": ready}}}
}

func virtualService(primary, canary int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "demo"}, "spec": map[string]any{"http": []any{
		map[string]any{"route": []any{
			map[string]any{"destination": map[string]any{"host": "demo-primary"}, "weight": primary},
			map[string]any{"destination": map[string]any{"host": "demo-canary.default.svc.cluster.local"}, "weight": canary}}}}}}}
}

func testCanary() *Canary {
	return &Canary{Name: "demo", Namespace: "default", Target: "demo", Apex: "demo", Interval: 10 * time.Second, Threshold: 2}
}

// The observer turns a Canary's status, its Deployments' ReplicaSets, its
// Services and VirtualService into the timeline and snapshots: phases,
// failed checks counted one by one, the canary's scale-down, the outcome
// moments, and nothing from before the release.
func TestCanaryObserverTimeline(t *testing.T) {
	t.Parallel()
	now := time.Duration(0)
	var events []result.Event
	o := &CanaryObserver{Canary: testCanary(), Clock: func() time.Duration { return now },
		Emit: func(e result.Event) { events = append(events, e) }}
	o.snapshot = Snapshot{ReplicaSets: map[string]ReplicaSet{}, ServiceWorkloads: map[string]string{}}

	o.onCanary(canaryObject("Initializing", 0), false)
	o.onReplicaSet(deploymentReplicaSet("demo-primary", "p1", "canarylab/demo:blue", "demo-primary", 4, 4), false)
	o.onReplicaSet(deploymentReplicaSet("demo", "t1", "canarylab/demo:blue", "demo", 0, 0), false)
	o.onReplicaSet(deploymentReplicaSet("other", "x1", "canarylab/demo:blue", "other", 2, 2), false)
	o.onService(&unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "demo-canary"},
		"spec": map[string]any{"selector": map[string]any{"app": "demo"}}}}, false)
	o.onVirtualService(virtualService(100, 0), false)
	o.onCanary(canaryObject("Initialized", 0), false)
	o.MarkReleased()
	if len(events) != 0 {
		t.Fatalf("events before the release: %v", events)
	}
	snapshot := o.Snapshot()
	if len(snapshot.ReplicaSets) != 2 || snapshot.ReplicaSets["p1"].Owner != "demo-primary" || snapshot.ReplicaSets["t1"].Workload != "demo" {
		t.Errorf("ReplicaSets = %+v, want the primary's and the target's only", snapshot.ReplicaSets)
	}
	if snapshot.ServiceWorkloads["demo-canary"] != "demo" || fmt.Sprint(snapshot.Routes) != "[{demo-primary 100 } {demo-canary 0 }]" {
		t.Errorf("services %v, routes %v", snapshot.ServiceWorkloads, snapshot.Routes)
	}

	now = 9 * time.Second
	o.onReplicaSet(deploymentReplicaSet("demo", "t2", "canarylab/demo:red", "demo", 4, 0), false)
	o.onCanary(canaryObject("Progressing", 0), false)
	now = 29 * time.Second
	o.onCanary(canaryObject("Progressing", 1), false)
	now = 39 * time.Second
	o.onCanary(canaryObject("Progressing", 2), false)
	now = 49 * time.Second
	// Flagger resets failedChecks in the update that sets Failed.
	o.onCanary(canaryObject("Failed", 0), false)
	o.onReplicaSet(deploymentReplicaSet("demo", "t2", "canarylab/demo:red", "demo", 0, 0), false)

	var timeline []string
	for _, e := range events {
		timeline = append(timeline, fmt.Sprintf("%gs %s %s%s", e.AtSeconds, e.Type, e.Phase, e.Value))
	}
	want := []string{"9s CanaryPhaseChanged Progressing", "29s CheckFailed 1/2", "39s CheckFailed 2/2", "49s CanaryPhaseChanged Failed", "49s CanaryScaledDown "}
	if strings.Join(timeline, "|") != strings.Join(want, "|") {
		t.Errorf("timeline:\n got %q\nwant %q", timeline, want)
	}
	if o.FailedAt == nil || *o.FailedAt != 49*time.Second || o.PromotedAt != nil || o.WaitingAt != nil {
		t.Errorf("failed at %v, promoted at %v, waiting at %v", o.FailedAt, o.PromotedAt, o.WaitingAt)
	}
}

// The outcome follows the Canary's phase, and the run ends once the
// target is scaled down and the primary runs one ReplicaSet.
func TestCanaryOutcomeAndSettled(t *testing.T) {
	t.Parallel()
	at := 20 * time.Second
	for _, tc := range []struct {
		phase                     string
		promoted, failed, waiting *time.Duration
		want                      string
	}{
		{phase: flagger.PhaseSucceeded, promoted: &at, want: "promoted at 20s"},
		{phase: flagger.PhaseFailed, failed: &at, want: "rolled-back at 20s"},
		{phase: flagger.PhaseWaitingPromotion, waiting: &at, want: "paused at 20s"},
		{phase: flagger.PhaseWaiting, waiting: &at, want: "paused at 20s"},
		{phase: flagger.PhaseProgressing, want: "degraded now"},
		{phase: flagger.PhasePromoting, want: "degraded now"},
	} {
		s := &Session{Canary: testCanary(), CanaryObserver: &CanaryObserver{Canary: testCanary(),
			PromotedAt: tc.promoted, FailedAt: tc.failed, WaitingAt: tc.waiting}}
		s.CanaryObserver.snapshot.Canary.Phase = tc.phase
		outcome, since, _ := s.Outcome()
		got := outcome + " now"
		if since != nil {
			got = fmt.Sprintf("%s at %s", outcome, since)
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.phase, got, tc.want)
		}
	}
	s := &Session{Canary: testCanary()}
	snapshot := Snapshot{ReplicaSets: map[string]ReplicaSet{
		"p1": {Owner: "demo-primary", Desired: 0}, "p2": {Owner: "demo-primary", Desired: 4}, "t2": {Owner: "demo", Desired: 4}}}
	if (canaryRun{s: s}).settled(snapshot) {
		t.Error("settled while the target still has replicas")
	}
	snapshot.ReplicaSets["t2"] = ReplicaSet{Owner: "demo"}
	if !(canaryRun{s: s}).settled(snapshot) {
		t.Error("not settled with the target at 0 and one primary ReplicaSet")
	}
}

// Flagger's event webhook: its payload (name, namespace, phase, metadata
// with eventMessage, eventType, timestamp in ms) is decoded and answered
// 200; anything else is a 400.
func TestFlaggerEventHandler(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []FlaggerMessage
	server := httptest.NewServer(FlaggerEventHandler(func(m FlaggerMessage) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer server.Close()
	payload := `{"name":"demo","namespace":"default","phase":"Progressing","checksum":"abc","metadata":{"eventMessage":"Advance demo.default canary weight 25","eventType":"Normal","timestamp":"1764654000123"}}`
	response, err := http.Post(server.URL, "application/json", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	response.Body.Close()
	if response.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200 (Flagger takes up to 202 as delivered)", response.StatusCode)
	}
	bad, err := http.Post(server.URL, "application/json", bytes.NewReader([]byte("not json")))
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != http.StatusBadRequest {
		t.Errorf("a body that is no payload: status %d, want 400", bad.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	want := FlaggerMessage{Canary: "demo", Namespace: "default", Phase: "Progressing", Type: "Normal",
		Message: "Advance demo.default canary weight 25", Time: time.UnixMilli(1764654000123)}
	if len(got) != 1 || got[0] != want {
		t.Errorf("messages = %+v, want %+v", got, want)
	}
}

// A failed metric check is a MeasurementTaken with the metric and the
// value Flagger printed, or an Error when the query failed or found none.
func TestMeasurementFromMessages(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]string{
		"Halt demo.default advancement success rate 50.00% < 99%":                                                                  "request-success-rate Failed 50.00%",
		"Halt demo.default advancement request duration 900ms > 500ms":                                                             "request-duration Failed 900ms",
		"Halt demo.default advancement canary-error-rate 50.71 > 1":                                                                "canary-error-rate Failed 50.71",
		"Halt advancement no values found for custom metric: canary-error-rate: no values found":                                   "canary-error-rate Error ",
		"Halt advancement no values found for istio metric request-success-rate probably demo.default is not receiving traffic: x": "request-success-rate Error ",
		"Metric query failed for canary-5xx: Post \"http://x\": connection refused":                                                "canary-5xx Error ",
		"Prometheus query failed: running query failed: error response: Status 500":                                                " Error ",
	} {
		e := measurement(text)
		if got := e.Metric + " " + e.Phase + " " + e.Value; got != want || e.Type != result.MeasurementTaken || e.Message != text {
			t.Errorf("%q: %q (%+v), want %q", text, got, e, want)
		}
	}
}

// Flagger's messages explain the events the run records from the objects:
// one that arrives before its event is attached when the event comes, one
// that arrives after is attached to the event already recorded; a metric
// failure is also its own MeasurementTaken; messages before the release
// and those that explain no event are not in the timeline.
func TestFlaggerMessagesJoinEvents(t *testing.T) {
	t.Parallel()
	plane := &fakePlane{}
	now := time.Now()
	s := &Session{Canary: testCanary(), Plane: plane, Scenario: &scenario.Scenario{}, WallClock: func() time.Time { return now }}
	released := now.Add(-time.Minute)
	message := func(at time.Duration, text string) {
		s.FlaggerMessage(FlaggerMessage{Canary: "demo", Namespace: "default", Message: text, Time: released.Add(at)})
	}
	plane.now = time.Minute
	weight := func(w int) *int { return &w }
	s.Emit(result.Event{AtSeconds: 9.3, Type: result.CanaryPhaseChanged, Phase: flagger.PhaseProgressing})
	message(-5*time.Second, "Initialization done! demo.default")
	message(9250*time.Millisecond, "New revision detected! Scaling up demo.default")
	message(19200*time.Millisecond, "Advance demo.default canary weight 25")
	s.Emit(result.Event{AtSeconds: 19.3, Type: result.WeightChanged, CanaryWeight: weight(25)})
	message(29*time.Second, "Halt demo.default advancement canary-error-rate 50.71 > 1")
	s.Emit(result.Event{AtSeconds: 29.1, Type: result.CheckFailed, Value: "1/2"})
	message(30*time.Second, "canary deployment demo.default not ready: waiting for rollout to finish")
	message(49*time.Second, "Rolling back demo.default failed checks threshold reached 2")
	message(49100*time.Millisecond, "Canary failed! Scaling down demo.default")
	s.Emit(result.Event{AtSeconds: 49.2, Type: result.WeightChanged, CanaryWeight: weight(0)})
	s.Emit(result.Event{AtSeconds: 49.3, Type: result.CanaryPhaseChanged, Phase: flagger.PhaseFailed})
	// A weight no message explains, well after one that would.
	s.Emit(result.Event{AtSeconds: 58, Type: result.WeightChanged, CanaryWeight: weight(25)})

	var timeline []string
	for _, e := range s.result().Events {
		timeline = append(timeline, fmt.Sprintf("%g %s %s%s: %s", e.AtSeconds, e.Type, e.Metric, e.Value, e.Message))
	}
	want := []string{
		"9.3 CanaryPhaseChanged : New revision detected! Scaling up demo.default",
		"19.3 WeightChanged : Advance demo.default canary weight 25",
		"29 MeasurementTaken canary-error-rate50.71: Halt demo.default advancement canary-error-rate 50.71 > 1",
		"29.1 CheckFailed 1/2: Halt demo.default advancement canary-error-rate 50.71 > 1",
		"49.2 WeightChanged : Rolling back demo.default failed checks threshold reached 2",
		"49.3 CanaryPhaseChanged : Canary failed! Scaling down demo.default",
		"58 WeightChanged : ",
	}
	if strings.Join(timeline, "\n") != strings.Join(want, "\n") {
		t.Errorf("timeline:\n%s\nwant:\n%s", strings.Join(timeline, "\n"), strings.Join(want, "\n"))
	}
}

// A release of a Flagger target changes only its image and pod
// annotations (a strategic merge patch, as kubectl set image): the
// replicas Flagger set are left alone.
func TestReleasePatchesOnlyTheImage(t *testing.T) {
	t.Parallel()
	sc := load(t, "../conformance/flagger-good-release-promoted.yaml")
	_, objects, err := DecodeCanary(sc)
	if err != nil {
		t.Fatal(err)
	}
	scaled := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "demo", "namespace": "default"},
		"spec": map[string]any{"replicas": int64(0), "template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "demo", "image": "canarylab/demo:blue"}}}}}}}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{Deployments: "DeploymentList"}, scaled)
	var patch string
	client.PrependReactor("patch", "deployments", func(action k8stesting.Action) (bool, runtime.Object, error) {
		p := action.(k8stesting.PatchAction)
		if p.GetPatchType() != types.StrategicMergePatchType {
			t.Errorf("patch type %s, want a strategic merge patch", p.GetPatchType())
		}
		patch = string(p.GetPatch())
		return true, scaled, nil
	})
	d := &Driver{Client: client, Namespace: "default", Rollout: "demo", Kind: "Deployment", Objects: objects}
	if err := d.Release(context.Background(), "canarylab/demo:red", map[string]string{PodReadyDelayAnnotation: "3s"}); err != nil {
		t.Fatal(err)
	}
	want := `{"spec":{"template":{"metadata":{"annotations":{"pod-ready.stage.kwok.x-k8s.io/delay":"3s"}},"spec":{"containers":[{"image":"canarylab/demo:red","name":"demo"}]}}}}`
	if patch != want {
		t.Errorf("patch:\n got %s\nwant %s", patch, want)
	}
	if _, err := client.Resource(Deployments).Namespace("default").Get(context.Background(), "demo", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Flagger's A/B VirtualService: the rule with the analysis match sends the
// matching requests to the canary, the other keeps users on the primary
// (its only destination, with weight 0 or none, gets all of its traffic);
// the data plane gets both rules with their header matches and mirror, and
// the weights are those of the rule with the canary, as Flagger reads them.
func TestCanaryVirtualServiceRules(t *testing.T) {
	t.Parallel()
	o := &CanaryObserver{Canary: testCanary()}
	vs := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "demo"}, "spec": map[string]any{"http": []any{
		map[string]any{
			"match": []any{map[string]any{"headers": map[string]any{"x-canary": map[string]any{"exact": "insider"}, "cookie": map[string]any{"regex": "^(.*?;)?(canary=always)(;.*)?$"}}}},
			"route": []any{
				map[string]any{"destination": map[string]any{"host": "demo-primary"}, "weight": int64(0)},
				map[string]any{"destination": map[string]any{"host": "demo-canary"}, "weight": int64(100)}}},
		map[string]any{
			"route":            []any{map[string]any{"destination": map[string]any{"host": "demo-primary"}}},
			"mirror":           map[string]any{"host": "demo-canary"},
			"mirrorPercentage": map[string]any{"value": float64(50)}},
	}}}}
	o.onVirtualService(vs, false)
	if fmt.Sprint(o.snapshot.Routes) != "[{demo-primary 0 } {demo-canary 100 }]" {
		t.Errorf("routes %v, want the canary rule's", o.snapshot.Routes)
	}
	rules := o.snapshot.Rules
	if len(rules) != 2 {
		t.Fatalf("rules %+v", rules)
	}
	if got := fmt.Sprint(rules[0].Match); got != "[[{cookie   ^(.*?;)?(canary=always)(;.*)?$} {x-canary insider  }]]" {
		t.Errorf("match %s", got)
	}
	if rules[1].Match != nil || rules[1].Mirror != "demo-canary" || rules[1].MirrorPercent != 50 || fmt.Sprint(rules[1].Routes) != "[{demo-primary 100 }]" {
		t.Errorf("second rule %+v", rules[1])
	}
}
