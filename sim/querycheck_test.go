package sim

import (
	"os"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/scenario"
)

// A query that selects a metric the mesh's telemetry never has, or a label
// its metric never has, or a label value its run never has, is named; one
// that can match is not, nor is a matcher that an absent label satisfies
// (request_host="") or one on the response code.
func TestQueryWarnings(t *testing.T) {
	t.Parallel()
	sc, err := scenario.Load("testdata/querycheck/scenario.yaml")
	if err != nil {
		t.Fatal(err)
	}
	warnings, err := QueryWarnings(sc)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"AnalysisTemplate success-rate-step metric istio-short-host selects istio_requests_total with destination_service=\"demo-canary\", a value destination_service never has in this scenario's run: the selector matches nothing (values: demo-canary.default.svc.cluster.local, ",
		"AnalysisTemplate success-rate-step metric istio-success-rate selects istio_requests_total with label destination_svc, which istio_requests_total never has",
		"AnalysisTemplate success-rate-step metric nginx-success-rate selects nginx_ingress_controller_requests, which the istio telemetry never has",
	}
	if len(warnings) != len(want) {
		t.Fatalf("warnings:\n%s", strings.Join(warnings, "\n"))
	}
	for i, prefix := range want {
		if !strings.HasPrefix(warnings[i], prefix) {
			t.Errorf("warning %d:\n got %s\nwant %s...", i, warnings[i], prefix)
		}
	}
	catalog, err := scenario.LoadAll([]string{"../scenarios", "../conformance"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range catalog {
		if warnings, err := QueryWarnings(sc); err != nil || len(warnings) > 0 {
			t.Errorf("%s: %v %v", sc.Metadata.Name, warnings, err)
		}
	}
}

// A Canary that names no provider gets the scenario's meshProvider: under
// linkerd, a MetricTemplate written for Istio's metrics has no data.
func TestMeshProviderDecidesTheTelemetry(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../conformance/flagger-good-release-promoted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mesh string
		warn bool
	}{{"istio", false}, {"linkerd", true}} {
		text := strings.Replace(string(data), "meshProvider: istio", "meshProvider: "+tc.mesh, 1)
		sc, err := scenario.Parse("../conformance/mesh.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		warnings, err := QueryWarnings(sc)
		if err != nil {
			t.Fatal(err)
		}
		if warned := len(warnings) > 0 && strings.Contains(warnings[0], "the linkerd telemetry never has"); warned != tc.warn {
			t.Errorf("meshProvider %s: warnings %q", tc.mesh, warnings)
		}
	}
}
