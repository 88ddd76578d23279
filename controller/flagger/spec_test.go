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
