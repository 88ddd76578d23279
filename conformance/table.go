package conformance

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Table prints the rows as an aligned plain-text table: per scenario a line
// with its verdict, then one line per decisive moment with its time on each
// backend, the difference (other minus sim), the tolerance and whether it
// agrees; a summary line closes it.
func Table(rows []Row) string {
	var b strings.Builder
	simName, otherName := columnNames(rows)
	table := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(table, "SCENARIO / MOMENT\t%s\t%s\tDIFF\tTOLERANCE\tAGREES\n", strings.ToUpper(simName), strings.ToUpper(otherName))
	for _, row := range rows {
		fmt.Fprintf(table, "%s\t%s\t%s\t\t\t%s\n", row.Scenario, errorCell(row.SimError), errorCell(row.OtherError), verdict(row.Agrees))
		for _, moment := range row.Moments {
			difference, tolerance := "-", "-"
			if d, ok := moment.Difference(); ok {
				difference = signed(FormatDuration(d))
				tolerance = FormatDuration(moment.Tolerance())
			}
			agrees := verdict(moment.Agrees)
			if !moment.Agrees {
				agrees += ": " + moment.Reason
			}
			fmt.Fprintf(table, "  %s\t%s\t%s\t%s\t%s\t%s\n", moment.Name(),
				cell(moment.Sim, moment.SimDetail, moment.SimAt), cell(moment.Other, moment.OtherDetail, moment.OtherAt),
				difference, tolerance, agrees)
		}
	}
	table.Flush()
	for _, row := range rows {
		for _, failure := range runErrors(row) {
			fmt.Fprintf(&b, "%s did not run on %s: %s\n", row.Scenario, failure.backend, failure.message)
		}
	}
	b.WriteString(Summary(rows) + "\n")
	return b.String()
}

// Markdown renders the rows for a note or a pull request: one line per
// scenario (outcome on each backend, how many decisive moments agree, the
// largest difference), then every disagreeing moment as a list item.
func Markdown(rows []Row) string {
	var b strings.Builder
	simName, otherName := columnNames(rows)
	fmt.Fprintf(&b, "| Scenario | %s | %s | Decisive moments agreeing | Largest difference | Agrees |\n", simName, otherName)
	b.WriteString("|---|---|---|---|---|---|\n")
	var disagreements []string
	for _, row := range rows {
		agreeing, largest, largestName := 0, "-", ""
		largestAbs := time.Duration(-1)
		for _, moment := range row.Moments {
			if moment.Agrees {
				agreeing++
			} else {
				disagreements = append(disagreements, fmt.Sprintf("- `%s` %s: %s", row.Scenario, moment.Name(), escape(moment.Reason)))
			}
			if d, ok := moment.Difference(); ok && d.Abs() > largestAbs {
				largestAbs, largest, largestName = d.Abs(), signed(FormatDuration(d)), moment.Name()
			}
		}
		if largestName != "" {
			largest += " (" + largestName + ")"
		}
		for _, failure := range runErrors(row) {
			disagreements = append(disagreements, fmt.Sprintf("- `%s` did not run on %s: %s", row.Scenario, failure.backend, escape(failure.message)))
		}
		var simAt, otherAt time.Duration
		if len(row.Moments) > 0 {
			simAt, otherAt = row.Moments[0].SimAt, row.Moments[0].OtherAt
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %d of %d | %s | %s |\n", row.Scenario,
			outcomeCell(row.SimOutcome, simAt), outcomeCell(row.OtherOutcome, otherAt),
			agreeing, len(row.Moments), largest, markdownVerdict(row.Agrees))
	}
	b.WriteString("\n" + Summary(rows) + ".\n")
	if len(disagreements) > 0 {
		b.WriteString("\nDisagreements:\n\n" + strings.Join(disagreements, "\n") + "\n")
	}
	return b.String()
}

type runError struct{ backend, message string }

// runErrors are the row's backends that failed to run the scenario.
func runErrors(row Row) []runError {
	var failures []runError
	for _, failure := range []runError{{row.SimBackend, row.SimError}, {row.OtherBackend, row.OtherError}} {
		if failure.message != "" {
			failures = append(failures, failure)
		}
	}
	return failures
}

// columnNames are the two backends' names from the first row; the same
// name twice (sim against sim) is told apart.
func columnNames(rows []Row) (string, string) {
	simName, otherName := "sim", "other"
	if len(rows) > 0 {
		if rows[0].SimBackend != "" {
			simName = rows[0].SimBackend
		}
		if rows[0].OtherBackend != "" {
			otherName = rows[0].OtherBackend
		}
	}
	if simName == otherName {
		otherName += " (again)"
	}
	return simName, otherName
}

// cell is one backend's side of a moment: "25% at 3.3s", "at 14.9s".
func cell(recorded bool, detail string, at time.Duration) string {
	if !recorded {
		return "missing"
	}
	return strings.TrimSpace(detail + " at " + FormatDuration(at))
}

// errorCell marks a backend that failed to run the scenario; the message
// follows the table.
func errorCell(message string) string {
	if message == "" {
		return ""
	}
	return "error (below)"
}

// outcomeCell is "promoted at 42.101s", or "no result".
func outcomeCell(outcome string, at time.Duration) string {
	if outcome == "" {
		return "no result"
	}
	return outcome + " at " + FormatDuration(at)
}

func verdict(agrees bool) string {
	if agrees {
		return "yes"
	}
	return "NO"
}

func markdownVerdict(agrees bool) string {
	if agrees {
		return "yes"
	}
	return "**no**"
}

func signed(text string) string {
	if strings.HasPrefix(text, "-") {
		return text
	}
	return "+" + text
}

// escape keeps a message inside one Markdown line and table cell.
func escape(text string) string {
	text = strings.ReplaceAll(text, "\n", " ")
	return strings.ReplaceAll(text, "|", `\|`)
}
