package argorollouts

import (
	"math"
	"strings"
	"testing"

	api "github.com/canarylab/canarylab/controller/argorollouts"
)

func TestApproximateCountsMatchesTheController(t *testing.T) {
	t.Parallel()
	// Expected values from AR utils/replicaset/canary_test.go
	// TestApproximateWeightedNewStableReplicaCounts.
	cases := []struct{ replicas, weight, maxSurge, canary, stable int }{
		{1, 1, 0, 0, 1},
		{1, 50, 0, 1, 0},
		{1, 1, 1, 1, 1},
		{1, 100, 1, 1, 0},
		{2, 1, 0, 1, 1},
		{2, 1, 1, 1, 2},
		{2, 99, 1, 2, 1},
		{3, 10, 0, 1, 2},
		{3, 50, 0, 2, 1},
		{0, 50, 1, 0, 0},
	}
	for _, tc := range cases {
		canary, stable := approximateCounts(tc.replicas, tc.weight, 100, tc.maxSurge)
		if canary != tc.canary || stable != tc.stable {
			t.Errorf("replicas %d weight %d surge %d: got %d/%d, want %d/%d", tc.replicas, tc.weight, tc.maxSurge, canary, stable, tc.canary, tc.stable)
		}
	}
}

func TestEvaluateResultTruthTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name             string
		result           any
		success, failure string
		want             Phase
	}{
		// No conditions is Successful, not Inconclusive as the docs say
		// (AR utils/evaluate/evaluate.go:37-39).
		{"no conditions", []float64{0.1}, "", "", Successful},
		{"success true", []float64{0.99}, "result[0] >= 0.95", "", Successful},
		{"success false fails", []float64{0.5}, "result[0] >= 0.95", "", Failed},
		{"failure false succeeds", []float64{0.99}, "", "result[0] < 0.9", Successful},
		{"failure true", []float64{0.5}, "", "result[0] < 0.9", Failed},
		{"both false is inconclusive", []float64{0.95}, "result[0] >= 0.99", "result[0] < 0.9", Inconclusive},
		{"both true: failure wins", []float64{0.5}, "result[0] >= 0.1", "result[0] < 0.9", Failed},
		{"NaN fails a success condition", []float64{math.NaN()}, "result[0] >= 0.95", "", Failed},
		{"NaN with both is inconclusive", []float64{math.NaN()}, "result[0] >= 0.95", "result[0] < 0.9", Inconclusive},
		{"isNaN guard", []float64{math.NaN()}, "isNaN(result[0]) || result[0] >= 0.95", "", Successful},
		{"scalar", 0.97, "result >= 0.95", "", Successful},
		{"empty-result guard", []float64{}, "len(result) == 0 || result[0] >= 0.95", "", Successful},
		{"asInt helper", []float64{3.7}, "asInt(result[0]) == 3", "", Successful},
		{"default helper", []float64{1}, "len(default(result, [])) == 1", "", Successful},
	}
	for _, tc := range cases {
		got, err := evaluateResult(tc.result, tc.success, tc.failure)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestEvaluateErrors(t *testing.T) {
	t.Parallel()
	phase, err := evaluateResult([]float64{}, "result[0] >= 0.95", "")
	if phase != ErrorPhase || err == nil || !strings.Contains(err.Error(), "metric result is nil or empty: no data returned from the metric provider") {
		t.Fatalf("empty result: %s %v; want Error with the v1.10 message", phase, err)
	}
	phase, err = evaluateResult([]float64{1}, "result[0] + 1", "")
	if phase != ErrorPhase || err == nil || !strings.Contains(err.Error(), "expected bool") {
		t.Fatalf("non-bool condition: %s %v", phase, err)
	}
	if phase, err := evaluateResult([]float64{1}, `asInt("x") > 1`, ""); phase != ErrorPhase || err == nil {
		t.Fatalf("asInt on a bad string: %s %v", phase, err)
	}
}

func spec(failureLimit, inconclusiveLimit, consecutiveErrorLimit int, count *int) *api.ResolvedMetric {
	return &api.ResolvedMetric{Name: "m", FailureLimit: failureLimit, InconclusiveLimit: inconclusiveLimit,
		ConsecutiveErrorLimit: consecutiveErrorLimit, Count: count}
}

func intPtr(n int) *int { return &n }

func TestAssessMetric(t *testing.T) {
	t.Parallel()
	last := &measurement{phase: Successful}
	cases := []struct {
		name        string
		spec        *api.ResolvedMetric
		result      metricResult
		terminating bool
		want        Phase
	}{
		{"no measurement", spec(0, 0, 4, nil), metricResult{}, false, Pending},
		{"no measurement, terminating", spec(0, 0, 4, nil), metricResult{}, true, Successful},
		{"first failure fails at failureLimit 0", spec(0, 0, 4, nil), metricResult{failed: 1, count: 1, last: last}, false, Failed},
		{"failed == failureLimit is not yet failed", spec(3, 0, 4, nil), metricResult{failed: 3, count: 3, last: last}, false, Running},
		{"failed > failureLimit", spec(3, 0, 4, nil), metricResult{failed: 4, count: 4, last: last}, false, Failed},
		{"failureLimit -1 never fails", spec(-1, 0, 4, nil), metricResult{failed: 9, count: 9, last: last}, false, Running},
		{"4 consecutive errors are tolerated", spec(0, 0, 4, nil), metricResult{errors: 4, consecutiveError: 4, last: last}, false, Running},
		{"the 5th consecutive error ends it", spec(0, 0, 4, nil), metricResult{errors: 5, consecutiveError: 5, last: last}, false, ErrorPhase},
		{"inconclusive over its limit", spec(0, 0, 4, nil), metricResult{inconclusive: 1, count: 1, last: last}, false, Inconclusive},
		{"error overrides failed", spec(0, 0, 4, nil), metricResult{failed: 1, consecutiveError: 5, last: last}, false, ErrorPhase},
		{"inconclusive overrides failed", spec(0, 0, 4, nil), metricResult{failed: 1, inconclusive: 1, last: last}, false, Inconclusive},
		{"count reached", spec(1, 0, 4, intPtr(3)), metricResult{count: 3, failed: 1, last: last}, false, Successful},
		{"indefinite metric, terminating", spec(0, 0, 4, nil), metricResult{count: 7, successful: 7, last: last}, true, Successful},
	}
	for _, tc := range cases {
		result := tc.result
		result.phase = Running
		if got := assessMetric(tc.spec, &result, tc.terminating); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestEffectiveCount(t *testing.T) {
	t.Parallel()
	cases := []struct {
		metric api.Metric
		want   *int
	}{
		{api.Metric{Name: "once"}, intPtr(1)},
		{api.Metric{Name: "forever", Interval: "10s"}, nil},
		{api.Metric{Name: "three", Interval: "10s", Count: &api.IntOrString{Text: "3", Set: true}}, intPtr(3)},
		{api.Metric{Name: "from args", Interval: "10s", Count: &api.IntOrString{Text: "{{args.n}}", Set: true}}, intPtr(5)},
	}
	for _, tc := range cases {
		spec, err := api.ResolveMetric(tc.metric, map[string]string{"n": "5"})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case tc.want == nil && spec.Count != nil:
			t.Errorf("%s: count %d, want nil (runs forever)", tc.metric.Name, *spec.Count)
		case tc.want != nil && (spec.Count == nil || *spec.Count != *tc.want):
			t.Errorf("%s: count %v, want %d", tc.metric.Name, spec.Count, *tc.want)
		}
	}
	if _, err := api.ResolveMetric(api.Metric{Name: "m", SuccessCondition: "result > {{args.missing}}"}, nil); err == nil {
		t.Error("an unresolved arg did not fail")
	}
}
