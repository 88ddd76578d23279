package reports

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/canarylab/canarylab/result"
)

// Markdown writes a per-scenario report: verdict (✅ passed, ❌ failed, ⚠️
// could not run), backend and seed, outcome, the assertions (expected
// against observed), requests by version and the event table.
func Markdown(w io.Writer, res *result.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s %s\n\n", mark(res), escape(res.Scenario))
	fmt.Fprintf(&b, "Backend `%s`, seed %d.\n\n", res.Backend, res.Seed)
	if res.Outcome.Result == "" {
		b.WriteString("Outcome: none reached")
	} else {
		fmt.Fprintf(&b, "Outcome: **%s** at %s", escape(res.Outcome.Result), at(res.Outcome.AtSeconds))
		if reason := res.Outcome.Reason; reason != nil {
			fmt.Fprintf(&b, " (%s)", escape(reason.String()))
		}
	}
	fmt.Fprintf(&b, ", highest canary weight %d%%", res.MaxCanaryWeight())
	if p99 := res.Requests.LatencyP99Ms; p99 > 0 {
		fmt.Fprintf(&b, ", p99 latency %sms", strconv.FormatFloat(p99, 'f', -1, 64))
	}
	b.WriteString(".\n\n")
	if res.Error != "" {
		fmt.Fprintf(&b, "**The run could not complete:** %s\n\n", escape(res.Error))
	}

	b.WriteString("## Assertions\n\n")
	if len(res.Assertions) == 0 {
		b.WriteString("No expectation was checked.\n")
	} else {
		b.WriteString("| assertion | result | expected against observed |\n|---|---|---|\n")
		for _, assertion := range res.Assertions {
			verdict := "✅ passed"
			if !assertion.Passed {
				verdict = "❌ failed"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", escape(assertion.Name), verdict, escape(assertion.Detail))
		}
	}
	if len(res.Declared) > 0 {
		b.WriteString("\nDeclared by the scenario (`spec.stubs`), not observed:\n\n")
		for _, declared := range res.Declared {
			fmt.Fprintf(&b, "- %s\n", escape(declared))
		}
	}

	b.WriteString("\n## Requests\n\n| version | requests | failed | failed % |\n|---|---:|---:|---:|\n")
	for _, row := range []struct {
		name   string
		counts result.Counts
	}{
		{"stable", res.Requests.Stable},
		{"canary", res.Requests.Canary},
		{"**total**", result.Counts{Total: res.Requests.Total, Failed: res.Requests.Failed}},
	} {
		fmt.Fprintf(&b, "| %s | %d | %d | %s |\n", row.name, row.counts.Total, row.counts.Failed, row.counts.FailedPercent())
	}

	b.WriteString("\n## Events\n\n")
	if len(res.Events) == 0 {
		b.WriteString("No event was recorded.\n")
	} else {
		b.WriteString("| at | event | details |\n|---:|---|---|\n")
		for _, event := range res.Events {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", at(event.AtSeconds), escape(event.Type), escape(event.Text()))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// MarkdownSummary writes the whole run: the counts as the title, then one
// row per scenario linking to its report (<scenario>.md).
func MarkdownSummary(w io.Writer, results []*result.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# canarylab: %s\n\n", tallyLine(results))
	b.WriteString("| | scenario | backend | outcome | at | failed requests | canary failed | max canary weight |\n")
	b.WriteString("|---|---|---|---|---:|---:|---:|---:|\n")
	for _, res := range results {
		outcome, outcomeAt := "-", "-"
		if res.Outcome.Result != "" {
			outcome, outcomeAt = escape(res.Outcome.Result), at(res.Outcome.AtSeconds)
		}
		all := result.Counts{Total: res.Requests.Total, Failed: res.Requests.Failed}
		fmt.Fprintf(&b, "| %s | [%s](%s.md) | %s | %s | %s | %d / %d (%s) | %d / %d (%s) | %d%% |\n",
			mark(res), escape(res.Scenario), url.PathEscape(res.Scenario), escape(res.Backend), outcome, outcomeAt,
			all.Failed, all.Total, all.FailedPercent(),
			res.Requests.Canary.Failed, res.Requests.Canary.Total, res.Requests.Canary.FailedPercent(),
			res.MaxCanaryWeight())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mark(res *result.Result) string {
	switch verdict(res) {
	case "ERROR":
		return "⚠️"
	case "PASS":
		return "✅"
	}
	return "❌"
}

// at is a time from the release as the result holds it: "0s", "33.4s".
func at(seconds float64) string { return strconv.FormatFloat(seconds, 'f', -1, 64) + "s" }

// escape makes text safe in a Markdown table cell or paragraph: a pipe would
// end the cell, a line break the row, and <, > and & would be read as HTML
// (a message "<none>" would vanish on GitHub).
var escape = strings.NewReplacer(
	`\`, `\\`, "|", `\|`, "\r\n", " ", "\n", " ", "\r", " ",
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
).Replace
