package flagger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/scenario"
)

// scenarioWith is conformance/flagger-good-release-promoted.yaml with its
// text changed by edit, loaded as if it were in conformance/.
func scenarioWith(t *testing.T, edit func(string) string) (*scenario.Scenario, error) {
	t.Helper()
	data, err := os.ReadFile("../../conformance/flagger-good-release-promoted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return scenario.Parse(filepath.Join("..", "..", "conformance", "edited.yaml"), []byte(edit(string(data))))
}

// A Canary that names no provider gets the mesh Flagger was installed with
// (-mesh-provider, FL pkg/controller/scheduler.go:176-180), which the
// scenario must state. Any provider Flagger has (FL cmd/flagger/main.go:115)
// is valid: those the sim does not model are refused by name (exit 3), as a
// Canary's own spec.provider; a value Flagger does not know is invalid.
func TestMeshProvider(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ meshProvider, invalid, unsupported string }{
		{"", "names no spec.provider, so it gets the mesh Flagger was installed with", ""},
		{"consul", `meshProvider "consul" is not a provider Flagger knows`, ""},
		{"kuma", "", `meshProvider "kuma", the provider of a Canary that names none`},
		{"gatewayapi:v1beta1", "", `meshProvider "gatewayapi:v1beta1"`},
		{"nginx", "", `meshProvider "nginx"`},
		{"istio", "", ""},
		{"linkerd", "", ""},
	} {
		sc, err := scenarioWith(t, func(text string) string {
			if tc.meshProvider == "" {
				return strings.Replace(text, "meshProvider: istio", "", 1)
			}
			return strings.Replace(text, "meshProvider: istio", "meshProvider: "+tc.meshProvider, 1)
		})
		if err != nil {
			t.Fatalf("meshProvider %q: loading: %v", tc.meshProvider, err)
		}
		m, err := DecodeScenario(sc)
		if tc.invalid != "" {
			if !errors.Is(err, scenario.ErrInvalid) || !strings.Contains(err.Error(), tc.invalid) || !strings.Contains(err.Error(), ".yaml:") {
				t.Errorf("meshProvider %q: err = %v, want invalid with file:line: %s", tc.meshProvider, err, tc.invalid)
			}
			continue
		}
		if err != nil {
			t.Fatalf("meshProvider %q: %v", tc.meshProvider, err)
		}
		switch unsupported := m.Unsupported(); {
		case tc.unsupported == "" && unsupported != nil:
			t.Errorf("meshProvider %q: %v", tc.meshProvider, unsupported)
		case tc.unsupported != "" && (!errors.Is(unsupported, ErrUnsupported) || !strings.Contains(unsupported.Error(), tc.unsupported)):
			t.Errorf("meshProvider %q: unsupported = %v, want %s", tc.meshProvider, unsupported, tc.unsupported)
		}
	}
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: demo}
spec:
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers: [{name: demo, image: canarylab/demo:blue}]
`

// canary is a valid Istio Canary of the Deployment above; targetRef and
// service are replaced by the cases.
const canary = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: demo}
spec:
  provider: istio
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: demo}
  service: {port: 80, targetPort: 8080}
  analysis:
    interval: 10s
    threshold: 2
    maxWeight: 50
    stepWeight: 25
`

func decode(t *testing.T, documents ...string) (*Manifests, error) {
	t.Helper()
	docs, err := scenario.SplitDocuments("manifests.yaml", []byte(strings.Join(documents, "\n---\n")))
	if err != nil {
		t.Fatal(err)
	}
	return Decode(docs)
}

// Flagger has controllers for Deployment, DaemonSet and Service targets, a
// Knative Service among them (FL pkg/canary/factory.go:84-97): valid, and
// refused by the sim naming the target; a Knative target needs no
// spec.service (FL artifacts/flagger/crd.yaml:81-83). The CRD admits no
// other kind.
func TestTargetKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, from, to   string
		invalid, refused string
	}{
		{"Deployment", "", "", "", ""},
		{"DaemonSet", "kind: Deployment, name: demo}", "kind: DaemonSet, name: demo}", "", "targetRef DaemonSet demo"},
		{"Knative Service without spec.service", "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: demo}\n  service: {port: 80, targetPort: 8080}\n",
			"  targetRef: {apiVersion: serving.knative.dev/v1, kind: Service, name: demo}\n", "", "targetRef Knative Service demo"},
		{"ClusterIP Service", "apiVersion: apps/v1, kind: Deployment", "apiVersion: v1, kind: Service", "", "targetRef Service demo"},
		{"Deployment without spec.service", "  service: {port: 80, targetPort: 8080}\n", "", "spec.service is missing: Flagger creates the Services and routing of a Deployment target", ""},
		{"StatefulSet", "kind: Deployment, name: demo}", "kind: StatefulSet, name: demo}", `spec.targetRef.kind: Unsupported value: "StatefulSet": supported values: "DaemonSet", "Deployment", "Service"`, ""},
	} {
		m, err := decode(t, deployment, strings.Replace(canary, tc.from, tc.to, 1))
		if tc.invalid != "" {
			if !errors.Is(err, scenario.ErrInvalid) || !strings.Contains(err.Error(), tc.invalid) || !strings.Contains(err.Error(), "manifests.yaml:") {
				t.Errorf("%s: err = %v, want invalid: %s", tc.name, err, tc.invalid)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		switch unsupported := m.Unsupported(); {
		case tc.refused == "" && unsupported != nil:
			t.Errorf("%s: %v", tc.name, unsupported)
		case tc.refused != "" && (!errors.Is(unsupported, ErrUnsupported) || !strings.Contains(unsupported.Error(), tc.refused)):
			t.Errorf("%s: unsupported = %v, want %s", tc.name, unsupported, tc.refused)
		}
	}
}

// Every rule of the Canary and MetricTemplate CRDs is the API server's,
// checked by k8sschema before the model reads the objects; the model keeps
// only what the CRDs cannot say. Each input here once had a hand-written
// twin in validateCanary or validateTemplate: the CRD's message proves that
// twin could not fire.
func TestTheCRDRejectsBeforeTheModel(t *testing.T) {
	t.Parallel()
	metricTemplate := "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: mt}\nspec:\n  provider: {type: prometheus, address: 'http://prometheus:9090'}\n  query: up\n"
	hook := func(fields string) [2]string {
		return [2]string{"    stepWeight: 25\n", "    stepWeight: 25\n    webhooks: [{" + fields + "}]\n"}
	}
	metric := func(fields string) [2]string {
		return [2]string{"    stepWeight: 25\n", "    stepWeight: 25\n    metrics: [{" + fields + "}]\n"}
	}
	for _, tc := range []struct {
		name string
		edit [2]string
		want string
	}{
		{"unknown provider", [2]string{"provider: istio", "provider: consul"}, `spec.provider: Unsupported value: "consul"`},
		{"no targetRef", [2]string{"  targetRef: {apiVersion: apps/v1, kind: Deployment, name: demo}\n", ""}, "spec.targetRef: Required value"},
		{"targetRef without apiVersion", [2]string{"{apiVersion: apps/v1, kind: Deployment, name: demo}", "{kind: Deployment, name: demo}"}, "spec.targetRef.apiVersion: Required value"},
		{"targetRef without name", [2]string{"kind: Deployment, name: demo}", "kind: Deployment}"}, "spec.targetRef.name: Required value"},
		{"service without port", [2]string{"service: {port: 80, targetPort: 8080}", "service: {targetPort: 8080}"}, "spec.service.port: Required value"},
		{"no analysis", [2]string{"  analysis:\n    interval: 10s\n    threshold: 2\n    maxWeight: 50\n    stepWeight: 25\n", ""}, "spec.analysis: Required value"},
		{"no interval", [2]string{"    interval: 10s\n", ""}, "spec.analysis.interval: Required value"},
		{"interval in hours", [2]string{"interval: 10s", "interval: 1h"}, `spec.analysis.interval in body should match '^[0-9]+(m|s)'`},
		{"no threshold", [2]string{"    threshold: 2\n", ""}, "spec.analysis.threshold: Required value"},
		{"neither iterations, stepWeight nor stepWeights", [2]string{"    stepWeight: 25\n", ""}, "must validate one and only one schema (oneOf). Found none valid"},
		{"stepWeight and iterations", [2]string{"    stepWeight: 25\n", "    stepWeight: 25\n    iterations: 3\n"}, "Found 2 valid alternatives"},
		{"metric without name", metric("interval: 1m, thresholdRange: {max: 1}, templateRef: {name: mt}"), "spec.analysis.metrics[0].name: Required value"},
		{"metric interval in hours", metric("name: m, interval: 1h, thresholdRange: {max: 1}, templateRef: {name: mt}"), `spec.analysis.metrics[0].interval in body should match '^[0-9]+(m|s)'`},
		{"webhook without url", hook("name: w"), "spec.analysis.webhooks[0].url: Required value"},
		{"webhook without name", hook("url: 'http://x/'"), "spec.analysis.webhooks[0].name: Required value"},
		{"webhook type", hook("name: w, url: 'http://x/', type: pre"), `spec.analysis.webhooks[0].type: Unsupported value: "pre"`},
		{"webhook timeout in hours", hook("name: w, url: 'http://x/', timeout: 1h"), `spec.analysis.webhooks[0].timeout in body should match '^[0-9]+(m|s)'`},
		{"MetricTemplate without query", [2]string{"", ""}, "spec.query: Required value"},
		{"MetricTemplate without provider type", [2]string{"", ""}, "spec.provider.type: Required value"},
	} {
		template := metricTemplate
		switch tc.name {
		case "MetricTemplate without query":
			template = strings.Replace(template, "  query: up\n", "", 1)
		case "MetricTemplate without provider type":
			template = strings.Replace(template, "type: prometheus, ", "", 1)
		}
		_, err := decode(t, deployment, strings.Replace(canary, tc.edit[0], tc.edit[1], 1), template)
		if !errors.Is(err, scenario.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "manifests.yaml:") {
			t.Errorf("%s: err = %v, want the CRD's %q with file:line", tc.name, err, tc.want)
		}
	}
}

// What the CRDs cannot say stays the model's: an interval the pattern
// (unanchored at the end) admits but Flagger cannot parse, a webhook URL
// that is no URL, weights that do not rise, a Deployment without
// containers.
func TestTheModelsOwnRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		deployment string
		edit       [2]string
		want       string
	}{
		{"interval 10sx", deployment, [2]string{"interval: 10s", "interval: 10sx"}, `analysis.interval "10sx" is not a duration Flagger can parse`},
		{"webhook url", deployment, [2]string{"    stepWeight: 25\n", "    stepWeight: 25\n    webhooks: [{name: w, url: 'not a url'}]\n"}, `webhook w url "not a url" is not a URL`},
		{"stepWeights falling", deployment, [2]string{"    stepWeight: 25\n", "    stepWeights: [20, 10]\n"}, "analysis.stepWeights [20 10] must rise within 0..100"},
		{"no containers", strings.Replace(deployment, "[{name: demo, image: canarylab/demo:blue}]", "[]", 1), [2]string{"", ""}, "spec.template.spec.containers is empty"},
		{"missing MetricTemplate", deployment, [2]string{"    stepWeight: 25\n", "    stepWeight: 25\n    metrics: [{name: m, templateRef: {name: nope}}]\n"}, "names MetricTemplate default/nope, which is not among the scenario's manifests"},
	} {
		_, err := decode(t, tc.deployment, strings.Replace(canary, tc.edit[0], tc.edit[1], 1))
		if !errors.Is(err, scenario.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "manifests.yaml:") {
			t.Errorf("%s: err = %v, want %q with file:line", tc.name, err, tc.want)
		}
	}
}
