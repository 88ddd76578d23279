package kind

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// The Rollout's pods get a sidecar, run the loaded image and wait for the
// app's readiness; the load's Host is the VirtualService's.
func TestPrepareRouted(t *testing.T) {
	t.Parallel()
	r, err := prepare(loadScenario(t, "../../scenarios/canary-demo-promoted.yaml"), Config{Log: quietLog()}, runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.host != "demo.canarylab.local" {
		t.Errorf("host %q, want the VirtualService's first host", r.host)
	}
	rollout, err := r.rollout()
	if err != nil {
		t.Fatal(err)
	}
	labels, _, _ := unstructured.NestedStringMap(rollout.Object, "spec", "template", "metadata", "labels")
	if labels["sidecar.istio.io/inject"] != "true" || labels["app"] != "demo" {
		t.Errorf("pod labels %v, want the app's and sidecar injection", labels)
	}
	containers, _, _ := unstructured.NestedSlice(rollout.Object, "spec", "template", "spec", "containers")
	container := containers[0].(map[string]any)
	path, _, _ := unstructured.NestedString(container, "readinessProbe", "httpGet", "path")
	if container["imagePullPolicy"] != "IfNotPresent" || path != "/healthz/ready" {
		t.Errorf("container %v, want IfNotPresent and the app's readiness probe", container)
	}
	for _, obj := range r.objects {
		if strings.HasPrefix(obj.GetName(), "canarylab-ingress") {
			t.Errorf("a routed scenario got an ingress VirtualService of canarylab's: %s", obj.GetName())
		}
	}
}

// Without traffic routing, canarylab's own VirtualService sends the
// gateway's traffic to the entry Service, so that the replica ratio splits it.
func TestPrepareBasicCanaryAddsAnIngress(t *testing.T) {
	t.Parallel()
	r, err := prepare(loadScenario(t, "../../scenarios/basic-canary-promoted.yaml"), Config{Log: quietLog()}, runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ingress *cluster.Object
	for i, obj := range r.objects {
		if obj.GetKind() == "VirtualService" {
			ingress = &r.objects[i]
		}
	}
	if ingress == nil {
		t.Fatal("no VirtualService for the ingress")
	}
	hosts, _, _ := unstructured.NestedStringSlice(ingress.Object, "spec", "hosts")
	gateways, _, _ := unstructured.NestedStringSlice(ingress.Object, "spec", "gateways")
	routes, _, _ := unstructured.NestedSlice(ingress.Object, "spec", "http")
	destination, _, _ := unstructured.NestedString(routes[0].(map[string]any)["route"].([]any)[0].(map[string]any), "destination", "host")
	if len(hosts) != 1 || hosts[0] != r.host || r.host != "demo.default.canarylab.local" || gateways[0] != IngressGateway || destination != "demo" {
		t.Errorf("ingress hosts %v (load host %q), gateways %v, destination %q", hosts, r.host, gateways, destination)
	}
	if ingress.GetLabels()[cluster.ManagedByLabel] != cluster.ManagedBy || ingress.GetNamespace() != "default" {
		t.Errorf("ingress labels %v in %q: not canarylab's, or not in the scenario's namespace", ingress.GetLabels(), ingress.GetNamespace())
	}
}

func TestPrepareRefusesARoutedScenarioWithoutItsVirtualService(t *testing.T) {
	t.Parallel()
	sc := loadScenario(t, "../../scenarios/canary-demo-promoted.yaml")
	var kept []scenario.Document
	for _, doc := range sc.Documents {
		if doc.Kind != "VirtualService" {
			kept = append(kept, doc)
		}
	}
	sc.Documents = kept
	_, err := prepare(sc, Config{Log: quietLog()}, runner.Options{})
	if !errors.Is(err, scenario.ErrInvalid) || !strings.Contains(err.Error(), `VirtualService "demo"`) {
		t.Errorf("err = %v, want invalid input naming the VirtualService", err)
	}
}

func TestTagOf(t *testing.T) {
	t.Parallel()
	for image, want := range map[string]string{"canarylab/demo:blue": "blue", "registry:5000/demo": "latest", "registry:5000/demo:v2": "v2"} {
		if got := tagOf(image); got != want {
			t.Errorf("tagOf(%q) = %q, want %q", image, got, want)
		}
	}
}
