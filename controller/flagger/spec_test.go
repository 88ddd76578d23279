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
