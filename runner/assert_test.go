package runner

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/scenario/duration"
)

// rolledBack is a run a failed analysis rolled back: weight 20, then 40
// after the first failed measurement, then 0.
func rolledBack() *result.Result {
	return &result.Result{
		Outcome:  result.Outcome{Result: scenario.OutcomeRolledBack, AtSeconds: 30},
		Requests: result.Requests{Total: 1000, LatencyP99Ms: 250},
		Events: []result.Event{
			{AtSeconds: 3, Type: result.WeightChanged, CanaryWeight: result.IntPtr(20)},
			{AtSeconds: 10, Type: result.MeasurementTaken, AnalysisRun: "r", Metric: "success-rate", Phase: "Failed"},
			{AtSeconds: 12, Type: result.WeightChanged, CanaryWeight: result.IntPtr(40)},
			{AtSeconds: 20, Type: result.MeasurementTaken, AnalysisRun: "r", Metric: "success-rate", Phase: "Failed"},
			{AtSeconds: 20, Type: result.AnalysisRunCompleted, AnalysisRun: "r", Phase: "Failed"},
			{AtSeconds: 30, Type: result.RolloutAborted},
			{AtSeconds: 30, Type: result.WeightChanged, CanaryWeight: result.IntPtr(0)},
		},
	}
}

func TestExpectationsOnWhy(t *testing.T) {
	t.Parallel()
	weight := func(w int) *int { return &w }
	cases := []struct {
		name   string
		expect scenario.Expect
		passed bool
		detail string
	}{
		{"the reason matches", scenario.Expect{Reason: &scenario.ExpectReason{Cause: "analysis", Metric: "success-rate", Phase: "Failed"}}, true, "analysis: metric success-rate Failed"},
		{"a left-out field matches anything", scenario.Expect{Reason: &scenario.ExpectReason{Cause: "analysis"}}, true, "analysis: metric success-rate Failed"},
		{"another metric", scenario.Expect{Reason: &scenario.ExpectReason{Cause: "analysis", Metric: "latency"}}, false, "expected analysis: metric latency, observed analysis: metric success-rate Failed"},
		{"another cause", scenario.Expect{Reason: &scenario.ExpectReason{Cause: "abort"}}, false, "expected abort, observed"},
		{"p99 within", scenario.Expect{MaxLatencyP99: duration.Duration{Duration: 250 * time.Millisecond}}, true, "p99 latency of 1000 requests 250ms, limit 250ms"},
		{"p99 above", scenario.Expect{MaxLatencyP99: duration.Duration{Duration: 200 * time.Millisecond}}, false, "250ms, limit 200ms"},
		{"the path", scenario.Expect{WeightPath: []int{20, 40, 0}}, true, "canary weights [20, 40, 0]"},
		{"another path", scenario.Expect{WeightPath: []int{20, 0}}, false, "canary weights [20, 40, 0], expected [20, 0]"},
		{"after failure within", scenario.Expect{MaxCanaryWeightAfterFailure: weight(40)}, true, "reached 40 from the first failed measurement at 10s on, limit 40"},
		{"after failure above", scenario.Expect{MaxCanaryWeightAfterFailure: weight(20)}, false, "reached 40 from the first failed measurement at 10s on, limit 20"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.expect.Outcome = scenario.OutcomeRolledBack
			res := rolledBack()
			Evaluate(&scenario.Scenario{Spec: scenario.Spec{Expect: tc.expect}}, res)
			if len(res.Assertions) != 2 {
				t.Fatalf("assertions %+v, want outcome and one more", res.Assertions)
			}
			got := res.Assertions[1]
			if got.Passed != tc.passed || res.Passed != tc.passed || !strings.Contains(got.Detail, tc.detail) {
				t.Errorf("%s: passed %v (%q), want %v with %q", got.Name, got.Passed, got.Detail, tc.passed, tc.detail)
			}
		})
	}
}

// When the timeline does not say why, an expected reason fails and says so.
func TestReasonNotInTheTimeline(t *testing.T) {
	t.Parallel()
	res := rolledBack()
	res.Events = slices.DeleteFunc(res.Events, func(e result.Event) bool { return e.Type == result.AnalysisRunCompleted })
	Evaluate(&scenario.Scenario{Spec: scenario.Spec{Expect: scenario.Expect{Outcome: scenario.OutcomeRolledBack, Reason: &scenario.ExpectReason{Cause: "analysis"}}}}, res)
	if res.Passed || !strings.Contains(res.Assertions[1].Detail, "does not say why") {
		t.Errorf("%+v", res.Assertions)
	}
}
