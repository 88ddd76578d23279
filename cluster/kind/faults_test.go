package kind

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/fixtures/demoapp"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/scenario/duration"
)

// fakeAPIServer proxies /api/v1/namespaces/<ns>/pods/<pod>:<port>/proxy/<path>
// to a fixture app per pod (the real demoapp handler), as the API server's
// pod proxy does; pods named in down answer the 503 Status the API server
// gives for a pod it cannot reach.
type fakeAPIServer struct {
	mu    sync.Mutex
	apps  map[string]*demoapp.App
	calls []string
	down  map[string]bool
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 8)
	if len(parts) != 8 || parts[0] != "api" || parts[1] != "v1" || parts[4] != "pods" || parts[6] != "proxy" {
		http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	pod, port, _ := strings.Cut(parts[5], ":")
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+parts[3]+"/"+pod+":"+port+"/"+parts[7])
	down := f.down[pod]
	app, ok := f.apps[pod]
	if !ok {
		app = demoapp.New(demoapp.Config{Image: "canarylab/demo:blue", Version: "blue"})
		f.apps[pod] = app
	}
	f.mu.Unlock()
	if down || port != appPort {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503,`+
			`"message":"error trying to reach service: dial tcp 10.244.0.7:`+port+`: connect: connection refused"}`)
		return
	}
	proxied := r.Clone(r.Context())
	proxied.URL.Path = "/" + parts[7]
	app.ServeHTTP(w, proxied)
}

// fault is what the pod's app says its fault is (GET /fault).
func (f *fakeAPIServer) fault(pod string) demoapp.Fault {
	f.mu.Lock()
	app, ok := f.apps[pod]
	f.mu.Unlock()
	if !ok {
		return demoapp.Fault{}
	}
	recorder := httptest.NewRecorder()
	app.ServeHTTP(recorder, httptest.NewRequest(http.MethodGet, "/fault", nil))
	var fault demoapp.Fault
	if err := json.Unmarshal(recorder.Body.Bytes(), &fault); err != nil {
		panic(err)
	}
	return fault
}

func apiServer(t *testing.T) (*fakeAPIServer, rest.Interface) {
	t.Helper()
	fake := &fakeAPIServer{apps: map[string]*demoapp.App{}, down: map[string]bool{}}
	server := httptest.NewServer(fake)
	t.Cleanup(server.Close)
	kube, err := kubernetes.NewForConfig(&rest.Config{Host: server.URL})
	if err != nil {
		t.Fatal(err)
	}
	return fake, kube.CoreV1().RESTClient()
}

// The fault request goes through the pod proxy subresource to the app's
// port, with the body the app's POST /fault takes.
func TestPostFaultThroughThePodProxy(t *testing.T) {
	t.Parallel()
	fake, client := apiServer(t)
	want := demoapp.Fault{ErrorRate: 0.3, Latency: duration.Of(500 * time.Millisecond)}
	if err := postFault(t.Context(), client, "team-a", "demo-6f7c-x2", want); err != nil {
		t.Fatal(err)
	}
	if got := fake.fault("demo-6f7c-x2"); got != want {
		t.Errorf("the app got %+v, want %+v", got, want)
	}
	if !slices.Equal(fake.calls, []string{"POST team-a/demo-6f7c-x2:8080/fault"}) {
		t.Errorf("calls %v", fake.calls)
	}
	fake.down["demo-6f7c-x3"] = true
	err := postFault(t.Context(), client, "team-a", "demo-6f7c-x3", want)
	if err == nil || !strings.Contains(err.Error(), "team-a/demo-6f7c-x3") || strings.Count(err.Error(), "connection refused") != 1 {
		t.Errorf("err = %v, want the pod and the API server's message, once", err)
	}
	// The app's own refusal comes back with its message.
	err = postFault(t.Context(), client, "team-a", "demo-6f7c-x2", demoapp.Fault{ErrorRate: 2})
	if err == nil || !strings.Contains(err.Error(), "outside 0..1") {
		t.Errorf("err = %v, want the app's answer", err)
	}
}

func testPod(name, hash string, ready bool) *unstructured.Unstructured {
	status := map[bool]string{true: "True", false: "False"}[ready]
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "default", "labels": map[string]any{"rollouts-pod-template-hash": hash}},
		"status":   map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": status}}}}}
}

// Injections reach the ready pods of their target, and pods that become
// ready while they last; their end clears them.
func TestInjectorFollowsTargetsAndNewPods(t *testing.T) {
	t.Parallel()
	fake, client := apiServer(t)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{cluster.Pods: "PodList"},
		testPod("demo-aaa-1", "aaa", true), testPod("demo-bbb-1", "bbb", true), testPod("demo-bbb-2", "bbb", false), testPod("other-1", "zzz", true))
	pods := dyn.Resource(cluster.Pods).Namespace("default")
	class := func(hash string) (scenario.Target, bool) {
		return map[string]scenario.Target{"aaa": scenario.TargetStable, "bbb": scenario.TargetCanary}[hash], hash == "aaa" || hash == "bbb"
	}
	in := newInjector(client, pods, "default", quietLog(), class)
	ctx := t.Context()

	if err := in.setErrorRate(ctx, "canary", 0.3); err != nil {
		t.Fatal(err)
	}
	if err := in.setLatency(ctx, "all", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want map[string]demoapp.Fault) {
		t.Helper()
		for pod, fault := range want {
			if got := fake.fault(pod); got != fault {
				t.Errorf("%s: %s has %+v, want %+v", when, pod, got, fault)
			}
		}
	}
	check("injected", map[string]demoapp.Fault{
		"demo-aaa-1": {Latency: duration.Of(200 * time.Millisecond)},
		"demo-bbb-1": {ErrorRate: 0.3, Latency: duration.Of(200 * time.Millisecond)},
		"demo-bbb-2": {}, // not ready: not reached yet
		"other-1":    {}, // another app's pod
	})

	// The second canary pod becomes ready.
	if _, err := pods.Update(ctx, testPod("demo-bbb-2", "bbb", true), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := in.sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	check("a new ready pod", map[string]demoapp.Fault{"demo-bbb-2": {ErrorRate: 0.3, Latency: duration.Of(200 * time.Millisecond)}})
	calls := len(fake.calls)
	if err := in.sync(ctx, false); err != nil || len(fake.calls) != calls {
		t.Errorf("a sync with nothing to change made %d requests (err %v)", len(fake.calls)-calls, err)
	}

	if err := in.setErrorRate(ctx, "canary", 0); err != nil {
		t.Fatal(err)
	}
	if err := in.setLatency(ctx, "all", 0); err != nil {
		t.Fatal(err)
	}
	check("ended", map[string]demoapp.Fault{"demo-aaa-1": {}, "demo-bbb-1": {}, "demo-bbb-2": {}})
	if in.active() {
		t.Error("the injector is still active after every injection ended")
	}

	// A ready pod that cannot be reached fails a fault's start.
	fake.down["demo-bbb-1"] = true
	if err := in.setErrorRate(ctx, "canary", 1); err == nil || !strings.Contains(err.Error(), "demo-bbb-1") {
		t.Errorf("err = %v, want the unreachable pod", err)
	}
}

func deployment(namespace, name string, replicas int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec":     map[string]any{"replicas": replicas, "selector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": name}}},
		"status":   map[string]any{"availableReplicas": replicas}}}
}

func replicasOf(t *testing.T, s *scaler, namespace, name string) int64 {
	t.Helper()
	d, err := s.client.Resource(deployments).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	replicas, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
	return replicas
}

// A Deployment scaled down for a fault gets its replicas back at the
// fault's end, or at the end of the run when the fault lasts until then.
func TestScalerPutsReplicasBack(t *testing.T) {
	t.Parallel()
	dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), deployment("istio-system", "prometheus", 2), deployment("argo-rollouts", "argo-rollouts", 1))
	s := newScaler(dyn)
	ctx := t.Context()
	if err := s.down(ctx, "istio-system", "prometheus"); err != nil {
		t.Fatal(err)
	}
	if err := s.down(ctx, "istio-system", "prometheus"); err != nil { // overlapping outages
		t.Fatal(err)
	}
	if got := replicasOf(t, s, "istio-system", "prometheus"); got != 0 {
		t.Errorf("prometheus has %d replicas during the outage", got)
	}
	if err := s.up(ctx, "istio-system", "prometheus"); err != nil {
		t.Fatal(err)
	}
	if got := replicasOf(t, s, "istio-system", "prometheus"); got != 2 {
		t.Errorf("prometheus has %d replicas after the outage, want its 2 back", got)
	}
	if err := s.down(ctx, "argo-rollouts", "argo-rollouts"); err != nil {
		t.Fatal(err)
	}
	if err := s.restore(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := replicasOf(t, s, "argo-rollouts", "argo-rollouts"); got != 1 {
		t.Errorf("the controller has %d replicas after restore, want 1", got)
	}
	if err := s.down(ctx, "istio-system", "missing"); err == nil {
		t.Error("scaling a missing Deployment succeeded")
	}
}

func TestDeletePodsOfADeployment(t *testing.T) {
	t.Parallel()
	controllerPod := func(name, app string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": name, "namespace": "argo-rollouts", "labels": map[string]any{"app.kubernetes.io/name": app}}}}
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{cluster.Pods: "PodList"},
		deployment("argo-rollouts", "argo-rollouts", 1), controllerPod("argo-rollouts-5d-x", "argo-rollouts"), controllerPod("dashboard-1", "dashboard"))
	deleted, err := deletePods(t.Context(), dyn, "argo-rollouts", "argo-rollouts")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(deleted) != "[argo-rollouts-5d-x]" {
		t.Errorf("deleted %v, want the controller's pod only", deleted)
	}
}
