package reports

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/canarylab/canarylab/result"
)

// Summary writes a fixed-width table of the results for a terminal, and a
// last line with the counts.
func Summary(w io.Writer, results []*result.Result) error {
	table := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(table, "SCENARIO\tRESULT\tOUTCOME\tAT\tFAILED/TOTAL\tCANARY FAILED\tMAX WEIGHT")
	passed, failed, errored := 0, 0, 0
	for _, res := range results {
		verdict := "PASS"
		switch {
		case res.Error != "":
			verdict = "ERROR"
			errored++
		case !res.Passed:
			verdict = "FAIL"
			failed++
		default:
			passed++
		}
		fmt.Fprintf(table, "%s\t%s\t%s\t%ss\t%d/%d\t%d/%d\t%d%%\n", res.Scenario, verdict, res.Outcome.Result, seconds(res.Outcome.AtSeconds),
			res.Requests.Failed, res.Requests.Total, res.Requests.Canary.Failed, res.Requests.Canary.Total, res.MaxCanaryWeight())
	}
	if err := table.Flush(); err != nil {
		return err
	}
	line := fmt.Sprintf("%d passed, %d failed", passed, failed)
	if errored > 0 {
		line += fmt.Sprintf(", %d could not run", errored)
	}
	_, err := fmt.Fprintln(w, line)
	return err
}
