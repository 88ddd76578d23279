package cluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

func load(t *testing.T, path string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestObjectsLabelAndNamespace(t *testing.T) {
	sc := load(t, "../scenarios/canary-demo-promoted.yaml")
	objects, err := Objects(sc.Documents, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, obj := range objects {
		kinds[obj.GetKind()]++
		if obj.GetNamespace() != "team-a" {
			t.Errorf("%s %s: namespace %q, want team-a", obj.GetKind(), obj.GetName(), obj.GetNamespace())
		}
		if obj.GetLabels()[ManagedByLabel] != ManagedBy {
			t.Errorf("%s %s is not labelled as canarylab's", obj.GetKind(), obj.GetName())
		}
		if !strings.Contains(obj.Where, ".yaml:") {
			t.Errorf("%s %s: where %q has no file:line", obj.GetKind(), obj.GetName(), obj.Where)
		}
	}
	if kinds["Rollout"] != 1 || kinds["Service"] != 2 || kinds["VirtualService"] != 1 {
		t.Errorf("kinds = %v", kinds)
	}
}

// Kinds the driver does not know are applied as they are, their resource
// found through the cluster's discovery; a Namespace manifest of the run's
// namespace is left to Prepare; a kind the cluster does not serve is a
// backend error at the object's file:line.
func TestOtherKindsAreResolvedOnTheCluster(t *testing.T) {
	docs := []scenario.Document{
		{File: "m.yaml", Line: 1, Kind: "Namespace", Name: "team-a", Raw: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n")},
		{File: "m.yaml", Line: 4, Kind: "Gateway", Name: "gw", Raw: []byte("apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata: {name: gw}\n")},
		{File: "m.yaml", Line: 7, Kind: "Widget", Name: "x", Raw: []byte("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n")},
	}
	objects, err := Objects(docs, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(objects) != 2 || objects[0].GetKind() != "Gateway" {
		t.Fatalf("objects %v, want the Gateway and the Widget (the run's Namespace is Prepare's)", objects)
	}
	gateways := schema.GroupVersion{Group: "networking.istio.io", Version: "v1beta1"}
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{gateways})
	mapper.AddSpecific(gateways.WithKind("Gateway"), gateways.WithResource("gateways"), gateways.WithResource("gateway"), meta.RESTScopeNamespace)
	d := &Driver{Objects: objects, Mapper: mapper}
	err = d.resolve()
	if !errors.Is(err, runner.ErrBackend) || !strings.Contains(err.Error(), "m.yaml:7: the cluster serves no Widget of example.com/v1") {
		t.Fatalf("err = %v; want a backend error naming m.yaml:7 and the kind", err)
	}
	if gvr := d.Objects[0].gvr; gvr.Resource != "gateways" || gvr.Version != "v1beta1" || d.Objects[0].GetNamespace() != "team-a" {
		t.Errorf("the Gateway resolved to %v in %q, want gateways v1beta1 in team-a", gvr, d.Objects[0].GetNamespace())
	}
}

func TestSetImageAndAnnotations(t *testing.T) {
	sc := load(t, "../scenarios/canary-demo-promoted.yaml")
	objects, err := Objects(sc.Documents, "default")
	if err != nil {
		t.Fatal(err)
	}
	d := &Driver{Namespace: "default", Rollout: "demo", Objects: objects}
	if err := d.SetImage("canarylab/demo:green", map[string]string{PodReadyDelayAnnotation: "3s"}); err != nil {
		t.Fatal(err)
	}
	ro, _ := d.Object("Rollout", "demo")
	containers, _, _ := unstructured.NestedSlice(ro.Object, "spec", "template", "spec", "containers")
	if got := containers[0].(map[string]any)["image"]; got != "canarylab/demo:green" {
		t.Errorf("image = %v", got)
	}
	annotations, _, _ := unstructured.NestedStringMap(ro.Object, "spec", "template", "metadata", "annotations")
	if annotations[PodReadyDelayAnnotation] != "3s" {
		t.Errorf("annotations = %v", annotations)
	}
	d.Container = 3
	if err := d.SetImage("x", nil); err == nil {
		t.Error("a missing container was accepted")
	}
}

func rolloutObject(status map[string]any, paused bool) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": "demo", "namespace": "default", "generation": int64(2)},
		"spec": map[string]any{"paused": paused, "strategy": map[string]any{"canary": map[string]any{"steps": []any{
			map[string]any{"setWeight": int64(20)}, map[string]any{"pause": map[string]any{}}, map[string]any{"setWeight": int64(50)}}}}},
		"status": status,
	}}
}

func fakeClient(objects ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{Rollouts: "RolloutList"}, objects...)
}

func getStatus(t *testing.T, d *Driver) map[string]any {
	t.Helper()
	ro, err := d.Client.Resource(Rollouts).Namespace("default").Get(context.Background(), "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status, _, _ := unstructured.NestedMap(ro.Object, "status")
	return status
}

// The actions make the plugin's patches: promote clears pause conditions,
// or moves past the current step when there are none; abort and retry
// set status.abort.
func TestActionsPatchLikeThePlugin(t *testing.T) {
	ctx := context.Background()
	paused := rolloutObject(map[string]any{"currentStepIndex": int64(1), "pauseConditions": []any{map[string]any{"reason": "CanaryPauseStep"}}}, false)
	d := &Driver{Client: fakeClient(paused), Namespace: "default", Rollout: "demo"}
	if err := d.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if status := getStatus(t, d); status["pauseConditions"] != nil || status["currentStepIndex"] != int64(1) {
		t.Errorf("after promote of a paused rollout: status %v; want pause conditions cleared, step unchanged", status)
	}

	running := rolloutObject(map[string]any{"currentStepIndex": int64(0)}, true)
	d = &Driver{Client: fakeClient(running), Namespace: "default", Rollout: "demo"}
	if err := d.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if status := getStatus(t, d); status["currentStepIndex"] != int64(1) {
		t.Errorf("after promote without pause conditions: status %v; want step 1", status)
	}
	ro, _ := d.Client.Resource(Rollouts).Namespace("default").Get(ctx, "demo", metav1.GetOptions{})
	if p, _, _ := unstructured.NestedBool(ro.Object, "spec", "paused"); p {
		t.Error("promote left spec.paused set")
	}

	if err := d.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if status := getStatus(t, d); status["abort"] != true {
		t.Errorf("after abort: status %v", status)
	}
	if err := d.Retry(ctx); err != nil {
		t.Fatal(err)
	}
	if status := getStatus(t, d); status["abort"] != false {
		t.Errorf("after retry: status %v", status)
	}
}

// The observer turns a sequence of Rollout, AnalysisRun and ReplicaSet
// states into the sim's timeline events.
func TestObserverTimeline(t *testing.T) {
	now := time.Duration(0)
	var events []result.Event
	o := testObserver(&now, &events)

	status := func(step int64, phase string, extra map[string]any) *unstructured.Unstructured {
		s := map[string]any{"currentStepIndex": step, "phase": phase, "observedGeneration": "2", "stableRS": "aaa", "currentPodHash": "bbb"}
		for k, v := range extra {
			s[k] = v
		}
		return rolloutObject(s, false)
	}
	o.onRollout(rolloutObject(map[string]any{"currentStepIndex": int64(3), "phase": "Healthy", "observedGeneration": "2", "stableRS": "aaa", "currentPodHash": "aaa"}, false), false)
	o.MarkReleased()
	if len(events) != 0 {
		t.Fatalf("events before the release: %v", events)
	}
	now = 500 * time.Millisecond
	o.onRollout(status(0, "Progressing", nil), false)
	now = time.Second
	o.onRollout(status(1, "Paused", map[string]any{"pauseConditions": []any{map[string]any{"reason": "CanaryPauseStep"}}}), false)
	now = 2 * time.Second
	o.onAnalysisRun(&unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "run-1"},
		"status": map[string]any{"phase": "Failed", "metricResults": []any{map[string]any{"name": "success-rate",
			"measurements": []any{map[string]any{"phase": "Failed", "value": "[0.5]", "startedAt": "t1", "finishedAt": "t1"}}}}}}}, false)
	now = 3 * time.Second
	o.onRollout(status(1, "Degraded", map[string]any{"abort": true, "message": "RolloutAborted: metric failed"}), false)

	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	want := []string{result.StepStarted, result.StepCompleted, result.StepStarted, result.PauseStarted, result.RolloutPaused,
		result.AnalysisRunStarted, result.MeasurementTaken, result.AnalysisRunCompleted, result.RolloutAborted}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Fatalf("events:\n got %v\nwant %v", types, want)
	}
	if o.AbortedAt == nil || *o.AbortedAt != 3*time.Second || o.PausedAt != nil {
		t.Errorf("aborted at %v, paused at %v; want aborted at 3s and no pause", o.AbortedAt, o.PausedAt)
	}
	if events[6].Value != "[0.5]" || events[6].Metric != "success-rate" {
		t.Errorf("measurement event = %+v", events[6])
	}

	// The canary scaled to 0 after the abort.
	owner := []any{map[string]any{"kind": "Rollout", "name": "demo", "apiVersion": "argoproj.io/v1alpha1", "uid": "u"}}
	rs := func(replicas int64) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "demo-bbb", "ownerReferences": owner,
			"labels": map[string]any{"rollouts-pod-template-hash": "bbb"}}, "spec": map[string]any{"replicas": replicas}}}
	}
	o.onReplicaSet(rs(1), false)
	o.onReplicaSet(rs(0), false)
	if last := events[len(events)-1]; last.Type != result.CanaryScaledDown {
		t.Errorf("last event %v, want CanaryScaledDown", last.Type)
	}
}

// The progress deadline is recorded as RolloutDegraded each time the
// controller times the rollout out: progress ends a timeout and the
// deadline can pass again (AR rollout/sync.go:664-710).
func TestObserverProgressDeadlineEachTime(t *testing.T) {
	now := time.Duration(0)
	var events []string
	var recorded []result.Event
	o := testObserver(&now, &recorded)
	o.Emit = func(e result.Event) { events = append(events, e.Type+" "+e.Message) }
	status := func(phase, reason, message string, abort bool, stable string) *unstructured.Unstructured {
		return rolloutObject(map[string]any{"currentStepIndex": int64(0), "phase": phase, "message": message, "abort": abort,
			"observedGeneration": "2", "stableRS": stable, "currentPodHash": "bbb",
			"conditions": []any{map[string]any{"type": "Progressing", "reason": reason, "message": `ReplicaSet "demo-bbb" has timed out progressing.`}}}, false)
	}
	o.MarkReleased()
	for _, s := range []*unstructured.Unstructured{
		status("Progressing", "ReplicaSetUpdated", "", false, "aaa"),
		status("Degraded", "ProgressDeadlineExceeded", "", false, "aaa"),
		status("Degraded", "ProgressDeadlineExceeded", "", false, "aaa"),
		status("Progressing", "ReplicaSetUpdated", "", false, "aaa"),
		status("Degraded", "ProgressDeadlineExceeded", "", false, "aaa"),
		status("Healthy", "NewReplicaSetAvailable", "", false, "bbb"),
	} {
		now += time.Second
		o.onRollout(s, false)
	}
	var got []string
	for _, e := range events {
		if strings.HasPrefix(e, result.RolloutDegraded) || strings.HasPrefix(e, result.RolloutAborted) {
			got = append(got, strings.Fields(e)[0])
		}
	}
	want := []string{result.RolloutDegraded, result.RolloutDegraded}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("want RolloutDegraded twice before the promotion; events:\n%s", strings.Join(events, "\n"))
	}
	if !slices.Contains(events, result.RolloutDegraded+` ProgressDeadlineExceeded: ReplicaSet "demo-bbb" has timed out progressing.`) {
		t.Errorf("messages:\n%s", strings.Join(events, "\n"))
	}
}

func TestVirtualServiceRoutes(t *testing.T) {
	o := &Observer{VirtualService: "demo", ManagedRoutes: []string{"primary"}}
	o.snapshot = Snapshot{}
	vs := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "demo"}, "spec": map[string]any{"http": []any{
		map[string]any{"name": "other", "route": []any{map[string]any{"destination": map[string]any{"host": "x"}, "weight": int64(100)}}},
		map[string]any{"name": "primary", "route": []any{
			map[string]any{"destination": map[string]any{"host": "demo-stable.default.svc.cluster.local"}, "weight": int64(80)},
			map[string]any{"destination": map[string]any{"host": "demo", "subset": "canary"}, "weight": int64(20)}}}}}}}
	o.onVirtualService(vs, false)
	got := o.snapshot.Routes
	// A subset route keeps its Service, which telemetry reports.
	if len(got) != 2 || got[0] != (Route{Host: "demo-stable", Weight: 80}) || got[1] != (Route{Host: "canary", Weight: 20, Service: "demo"}) {
		t.Errorf("routes = %v", got)
	}
}

// An object is applied at the version its apiVersion names: a
// VirtualService of networking.istio.io/v1alpha3 (as most tutorials write
// it) goes to that version's resource, as kubectl apply sends it.
func TestObjectsKeepTheirVersion(t *testing.T) {
	docs := []scenario.Document{
		{File: "vs.yaml", Line: 1, Kind: "VirtualService", Name: "demo",
			Raw: []byte("apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata: {name: demo}\n")},
		{File: "vs.yaml", Line: 5, Kind: "VirtualService", Name: "other",
			Raw: []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: other}\n")},
	}
	objects, err := Objects(docs, "default")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"v1alpha3", "v1"} {
		if gvr := objects[i].gvr; gvr.Group != "networking.istio.io" || gvr.Resource != "virtualservices" || gvr.Version != want {
			t.Errorf("%s: resource %v, want networking.istio.io/%s virtualservices", objects[i].Where, gvr, want)
		}
	}
}

// The controller's ProgressDeadlineExceeded condition is recorded once, as
// the sim records it, before the abort it causes: the reason of the
// outcome reads it.
func TestObserverRecordsTheProgressDeadline(t *testing.T) {
	now := time.Duration(0)
	var events []result.Event
	o := testObserver(&now, &events)
	o.MarkReleased()
	timedOut := map[string]any{"conditions": []any{map[string]any{"type": "Progressing", "reason": "ProgressDeadlineExceeded",
		"message": `ReplicaSet "demo-bbb" has timed out progressing.`}}}
	status := func(extra map[string]any) *unstructured.Unstructured {
		s := map[string]any{"currentStepIndex": int64(0), "phase": "Degraded", "observedGeneration": "2", "stableRS": "aaa", "currentPodHash": "bbb"}
		for k, v := range extra {
			s[k] = v
		}
		return rolloutObject(s, false)
	}
	now = 30 * time.Second
	o.onRollout(status(timedOut), false)
	o.onRollout(status(map[string]any{"conditions": timedOut["conditions"], "abort": true, "message": "RolloutAborted"}), false)
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "StepStarted,"+result.RolloutDegraded+","+result.RolloutAborted {
		t.Fatalf("events %v, want the step, one RolloutDegraded, then RolloutAborted", types)
	}
	res := &result.Result{Outcome: result.Outcome{Result: "rolled-back", AtSeconds: 30}, Events: events}
	if reason := res.FindReason(); reason == nil || reason.Cause != result.CauseProgressDeadline {
		t.Errorf("reason %v, want progress-deadline", reason)
	}
}

// testObserver is an Observer of Rollout default/demo whose clock reads
// *now and whose events go to *events.
func testObserver(now *time.Duration, events *[]result.Event) *Observer {
	o := &Observer{Namespace: "default", Rollout: "demo", Clock: func() time.Duration { return *now },
		Emit: func(e result.Event) { *events = append(*events, e) }}
	o.seenRuns, o.scaledDown = map[string]*runSeen{}, map[string]bool{}
	o.snapshot = Snapshot{ReplicaSets: map[string]ReplicaSet{}, Services: map[string]string{}, Subsets: map[string]string{}}
	return o
}
