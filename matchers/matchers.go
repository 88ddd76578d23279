// Package matchers are gomega matchers for canarylab results, for go test
// suites that run scenarios:
//
//	Expect(res).To(matchers.RollBackWithin(90 * time.Second))
//	Expect(res).To(matchers.HaveFailedRequestsBelow(50))
package matchers

import (
	"fmt"
	"time"

	"github.com/onsi/gomega/gcustom"
	"github.com/onsi/gomega/types"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
)

// Pass succeeds when every expectation of the scenario held.
func Pass() types.GomegaMatcher {
	return gcustom.MakeMatcher(func(res *result.Result) (bool, error) {
		if res == nil {
			return false, fmt.Errorf("no result")
		}
		return res.Passed, nil
	}).WithTemplate("Expected scenario {{.Actual.Scenario}} to pass:\n{{range .Actual.Assertions}}  {{if .Passed}}ok  {{else}}FAIL{{end}} {{.Name}}: {{.Detail}}\n{{end}}{{with .Actual.Error}}  error: {{.}}\n{{end}}")
}

// HaveOutcome succeeds when the run ended in the outcome (promoted,
// rolled-back, paused or degraded), at any time.
func HaveOutcome(outcome string) types.GomegaMatcher {
	return outcomeWithin(outcome, 0)
}

// RollBackWithin succeeds when the rollout was rolled back no later than d
// after the release.
func RollBackWithin(d time.Duration) types.GomegaMatcher {
	return outcomeWithin(scenario.OutcomeRolledBack, d)
}

// PromoteWithin succeeds when the release was promoted no later than d
// after the release.
func PromoteWithin(d time.Duration) types.GomegaMatcher {
	return outcomeWithin(scenario.OutcomePromoted, d)
}

func outcomeWithin(outcome string, d time.Duration) types.GomegaMatcher {
	limit := "at any time"
	if d > 0 {
		limit = "within " + d.String()
	}
	return gcustom.MakeMatcher(func(res *result.Result) (bool, error) {
		if res == nil {
			return false, fmt.Errorf("no result")
		}
		return res.Outcome.Result == outcome && (d == 0 || res.Outcome.At() <= d), nil
	}).WithTemplate(fmt.Sprintf("Expected scenario {{.Actual.Scenario}} {{.To}} end %s %s, it ended {{.Actual.Outcome.Result}} at {{.Actual.Outcome.AtSeconds}}s", outcome, limit))
}

// HaveFailedRequestsBelow succeeds when fewer than n user requests failed
// over the whole run.
func HaveFailedRequestsBelow(n int64) types.GomegaMatcher {
	return gcustom.MakeMatcher(func(res *result.Result) (bool, error) {
		if res == nil {
			return false, fmt.Errorf("no result")
		}
		return res.Requests.Failed < n, nil
	}).WithTemplate(fmt.Sprintf("Expected scenario {{.Actual.Scenario}} {{.To}} have fewer than %d failed requests, it had {{.Actual.Requests.Failed}} of {{.Actual.Requests.Total}}", n))
}

// HaveFailedRatioBelow succeeds when the failed fraction of all requests
// is below ratio (0.02 for 2%).
func HaveFailedRatioBelow(ratio float64) types.GomegaMatcher {
	return gcustom.MakeMatcher(func(res *result.Result) (bool, error) {
		if res == nil {
			return false, fmt.Errorf("no result")
		}
		all := result.Counts{Total: res.Requests.Total, Failed: res.Requests.Failed}
		return all.FailedFraction() < ratio, nil
	}).WithTemplate(fmt.Sprintf("Expected scenario {{.Actual.Scenario}} {{.To}} fail fewer than %g of its requests, it failed {{.Actual.Requests.Failed}} of {{.Actual.Requests.Total}}", ratio))
}

// ReachCanaryWeightAtMost succeeds when the routed canary weight never
// exceeded w percent.
func ReachCanaryWeightAtMost(w int) types.GomegaMatcher {
	return gcustom.MakeMatcher(func(res *result.Result) (bool, error) {
		if res == nil {
			return false, fmt.Errorf("no result")
		}
		return res.MaxCanaryWeight() <= w, nil
	}).WithTemplate(fmt.Sprintf("Expected scenario {{.Actual.Scenario}}'s canary weight {{.To}} stay at or below %d%%", w))
}
