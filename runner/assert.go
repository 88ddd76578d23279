package runner

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
)

// Evaluate says why the run ended as it did (res.Outcome.Reason, from the
// timeline) and what the scenario declared rather than observed
// (res.Declared), checks the scenario's expectations against the result,
// and fills res.Assertions (expected against observed) and res.Passed.
func Evaluate(sc *scenario.Scenario, res *result.Result) {
	res.Outcome.Reason = res.FindReason()
	res.Declared = sc.Declared()
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
	if reason := expect.Reason; reason != nil {
		assertions = append(assertions, reasonAssertion(*reason, res.Outcome.Reason))
	}
	if limit := expect.MaxLatencyP99.Duration; limit > 0 {
		p99 := res.Requests.LatencyP99Ms
		assertions = append(assertions, result.Assertion{Name: "maxLatencyP99", Passed: p99 <= float64(limit)/float64(time.Millisecond),
			Detail: fmt.Sprintf("p99 latency of %d requests %sms, limit %s", res.Requests.Total, strconv.FormatFloat(p99, 'f', -1, 64), limit)})
	}
	if want := expect.WeightPath; want != nil {
		path := res.WeightPath()
		detail := "canary weights " + formatWeights(path)
		if !slices.Equal(path, want) {
			detail += ", expected " + formatWeights(want)
		}
		assertions = append(assertions, result.Assertion{Name: "weightPath", Passed: slices.Equal(path, want), Detail: detail})
	}
	if limit := expect.MaxCanaryWeightAfterFailure; limit != nil {
		highest, failedAt, failed := res.WeightAfterFailure()
		detail := fmt.Sprintf("no measurement failed, limit %d", *limit)
		if failed {
			detail = fmt.Sprintf("canary weight reached %d from the first failed measurement at %s on, limit %d", highest, formatSeconds(failedAt), *limit)
		}
		assertions = append(assertions, result.Assertion{Name: "maxCanaryWeightAfterFailure", Passed: highest <= *limit, Detail: detail})
	}
	res.Assertions = assertions
	res.Passed = res.Error == ""
	for _, assertion := range assertions {
		res.Passed = res.Passed && assertion.Passed
	}
}

// reasonAssertion compares the expected reason with the observed one; a
// field the scenario leaves out matches anything.
func reasonAssertion(want scenario.ExpectReason, got *result.Reason) result.Assertion {
	expected := result.Reason{Cause: want.Cause, Metric: want.Metric, Phase: want.Phase}.String()
	if got == nil {
		return result.Assertion{Name: "reason", Detail: "expected " + expected + ", the timeline does not say why"}
	}
	ok := got.Cause == want.Cause && (want.Metric == "" || got.Metric == want.Metric) && (want.Phase == "" || got.Phase == want.Phase)
	detail := got.String()
	if !ok {
		detail = "expected " + expected + ", observed " + detail
	}
	return result.Assertion{Name: "reason", Passed: ok, Detail: detail}
}

// formatWeights writes weights as a scenario does: [20, 40, 100, 0].
func formatWeights(weights []int) string {
	texts := make([]string, len(weights))
	for i, weight := range weights {
		texts[i] = strconv.Itoa(weight)
	}
	return "[" + strings.Join(texts, ", ") + "]"
}

func formatSeconds(seconds float64) string {
	return strconv.FormatFloat(seconds, 'f', -1, 64) + "s"
}
