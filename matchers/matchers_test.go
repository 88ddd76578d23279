package matchers

import (
	"strings"
	"testing"
	"time"

	"github.com/canarylab/canarylab/result"
)

func rolledBack(at float64, failed int64) *result.Result {
	return &result.Result{
		Scenario: "s",
		Passed:   true,
		Outcome:  result.Outcome{Result: "rolled-back", AtSeconds: at},
		Requests: result.Requests{Total: 1000, Failed: failed},
		Events:   []result.Event{{Type: result.WeightChanged, CanaryWeight: result.IntPtr(20)}},
	}
}

func TestMatchers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		matches bool
		match   func() (bool, error)
	}{
		{"rolled back in time", true, func() (bool, error) { return RollBackWithin(90 * time.Second).Match(rolledBack(43.5, 0)) }},
		{"rolled back too late", false, func() (bool, error) { return RollBackWithin(30 * time.Second).Match(rolledBack(43.5, 0)) }},
		{"rolled back at the limit", true, func() (bool, error) { return RollBackWithin(43500 * time.Millisecond).Match(rolledBack(43.5, 0)) }},
		{"not promoted", false, func() (bool, error) { return PromoteWithin(time.Hour).Match(rolledBack(1, 0)) }},
		{"outcome any time", true, func() (bool, error) { return HaveOutcome("rolled-back").Match(rolledBack(900, 0)) }},
		{"failures below", true, func() (bool, error) { return HaveFailedRequestsBelow(13).Match(rolledBack(1, 12)) }},
		{"failures not below", false, func() (bool, error) { return HaveFailedRequestsBelow(12).Match(rolledBack(1, 12)) }},
		{"ratio below", true, func() (bool, error) { return HaveFailedRatioBelow(0.02).Match(rolledBack(1, 19)) }},
		{"ratio not below", false, func() (bool, error) { return HaveFailedRatioBelow(0.02).Match(rolledBack(1, 20)) }},
		{"weight at most", true, func() (bool, error) { return ReachCanaryWeightAtMost(20).Match(rolledBack(1, 0)) }},
		{"weight above", false, func() (bool, error) { return ReachCanaryWeightAtMost(19).Match(rolledBack(1, 0)) }},
		{"passed", true, func() (bool, error) { return Pass().Match(rolledBack(1, 0)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.match()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.matches {
				t.Fatalf("matched %v, want %v", got, tc.matches)
			}
		})
	}
}

func TestFailureMessagesSayWhatHappened(t *testing.T) {
	t.Parallel()
	matcher := RollBackWithin(30 * time.Second)
	res := rolledBack(43.5, 0)
	if ok, _ := matcher.Match(res); ok {
		t.Fatal("matched a late rollback")
	}
	message := matcher.FailureMessage(res)
	for _, want := range []string{"rolled-back", "30s", "43.5"} {
		if !strings.Contains(message, want) {
			t.Errorf("failure message %q does not mention %q", message, want)
		}
	}
	if _, err := Pass().Match((*result.Result)(nil)); err == nil {
		t.Error("a nil result matched without error")
	}
}
