package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/canarylab/canarylab/result"
)

// Markdown writes a per-scenario report: verdict, assertions, requests by
// version and the event table.
func Markdown(w io.Writer, res *result.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s\n\n", mark(res), res.Scenario)
	fmt.Fprintf(&b, "Backend `%s`, seed %d. Outcome: **%s** at %ss.\n\n", res.Backend, res.Seed, res.Outcome.Result, seconds(res.Outcome.AtSeconds))
	if res.Error != "" {
		fmt.Fprintf(&b, "**Error:** %s\n\n", cell(res.Error))
	}
	b.WriteString("## Expectations\n\n| check | result | expected against observed |\n|---|---|---|\n")
	for _, assertion := range res.Assertions {
		verdict := "✅ passed"
		if !assertion.Passed {
			verdict = "❌ failed"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", assertion.Name, verdict, cell(assertion.Detail))
	}
	b.WriteString("\n## Requests\n\n| version | requests | failed | failed % |\n|---|---:|---:|---:|\n")
	for _, row := range []struct {
		name   string
		counts result.Counts
	}{{"stable", res.Requests.Stable}, {"canary", res.Requests.Canary}, {"**all**", result.Counts{Total: res.Requests.Total, Failed: res.Requests.Failed}}} {
		fmt.Fprintf(&b, "| %s | %d | %d | %s |\n", row.name, row.counts.Total, row.counts.Failed, row.counts.FailedPercent())
	}
	b.WriteString("\n## Events\n\n| at | event | details |\n|---:|---|---|\n")
	for _, event := range res.Events {
		fmt.Fprintf(&b, "| %ss | %s | %s |\n", seconds(event.AtSeconds), event.Type, cell(event.Describe()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// MarkdownSummary writes one row per scenario.
func MarkdownSummary(w io.Writer, results []*result.Result) error {
	var b strings.Builder
	passed := 0
	for _, res := range results {
		if res.Passed {
			passed++
		}
	}
	fmt.Fprintf(&b, "# canarylab: %d passed, %d failed\n\n", passed, len(results)-passed)
	b.WriteString("| | scenario | outcome | at | failed requests | canary failed | max canary weight |\n|---|---|---|---:|---:|---:|---:|\n")
	for _, res := range results {
		fmt.Fprintf(&b, "| %s | [%s](%s.md) | %s | %ss | %d / %d (%s) | %d / %d | %d%% |\n", mark(res), res.Scenario, res.Scenario,
			res.Outcome.Result, seconds(res.Outcome.AtSeconds), res.Requests.Failed, res.Requests.Total,
			result.Counts{Total: res.Requests.Total, Failed: res.Requests.Failed}.FailedPercent(),
			res.Requests.Canary.Failed, res.Requests.Canary.Total, res.MaxCanaryWeight())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mark(res *result.Result) string {
	switch {
	case res.Error != "":
		return "⚠️"
	case res.Passed:
		return "✅"
	}
	return "❌"
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) }

// cell escapes text for a Markdown table cell.
func cell(text string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(text)
}
