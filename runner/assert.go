package runner

import (
	"fmt"
	"strconv"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
)

// Evaluate checks the scenario's expectations against the result, fills
// res.Assertions (expected against observed) and res.Passed.
func Evaluate(sc *scenario.Scenario, res *result.Result) {
	expect := sc.Spec.Expect
	var assertions []result.Assertion
	observed := res.Outcome.Result
	at := res.Outcome.At()

	outcomeOK := observed == expect.Outcome
	detail := fmt.Sprintf("expected %s, observed %s at %s", expect.Outcome, observed, formatSeconds(res.Outcome.AtSeconds))
	if outcomeOK {
		detail = fmt.Sprintf("%s at %s", observed, formatSeconds(res.Outcome.AtSeconds))
	}
	if expect.Within.Duration > 0 {
		detail += ", limit " + expect.Within.Duration.String()
	}
	assertions = append(assertions, result.Assertion{Name: "outcome", Passed: outcomeOK, Detail: detail})

	if expect.Within.Duration > 0 {
		withinOK := outcomeOK && at <= expect.Within.Duration
		detail := fmt.Sprintf("%s at %s, limit %s", observed, formatSeconds(res.Outcome.AtSeconds), expect.Within.Duration)
		if !outcomeOK {
			detail = fmt.Sprintf("expected %s within %s, observed %s at %s", expect.Outcome, expect.Within.Duration, observed, formatSeconds(res.Outcome.AtSeconds))
		}
		assertions = append(assertions, result.Assertion{Name: "within", Passed: withinOK, Detail: detail})
	}
	if limit := expect.MaxFailedRequests; limit != nil {
		failed, total := res.Requests.Failed, res.Requests.Total
		bound := limit.Limit(total)
		ok := float64(failed) <= bound
		percent := 0.0
		if total > 0 {
			percent = 100 * float64(failed) / float64(total)
		}
		detail := fmt.Sprintf("%d of %d requests failed (%s%%), limit %s", failed, total, strconv.FormatFloat(percent, 'f', 2, 64), limit)
		if limit.Percent {
			detail += fmt.Sprintf(" (%s requests)", strconv.FormatFloat(bound, 'f', 1, 64))
		}
		assertions = append(assertions, result.Assertion{Name: "maxFailedRequests", Passed: ok, Detail: detail})
	}
	if limit := expect.MaxCanaryWeight; limit != nil {
		highest := res.MaxCanaryWeight()
		assertions = append(assertions, result.Assertion{Name: "maxCanaryWeight", Passed: highest <= *limit,
			Detail: fmt.Sprintf("canary weight reached %d, limit %d", highest, *limit)})
	}
	res.Assertions = assertions
	res.Passed = res.Error == ""
	for _, assertion := range assertions {
		res.Passed = res.Passed && assertion.Passed
	}
}

func formatSeconds(seconds float64) string {
	return strconv.FormatFloat(seconds, 'f', -1, 64) + "s"
}
