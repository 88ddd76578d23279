package reports

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/canarylab/canarylab/result"
)

// Summary writes a fixed-width table of the results for a terminal, one row
// per scenario, and a last line with the counts: "N passed, M failed" (and
// ", K could not run" when some could not).
func Summary(w io.Writer, results []*result.Result) error {
	table := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(table, "SCENARIO\tRESULT\tOUTCOME\tAT\tFAILED/TOTAL\tCANARY FAILED\tMAX WEIGHT\tWHY")
	for _, res := range results {
		outcome, outcomeAt := "-", "-"
		if res.Outcome.Result != "" {
			outcome, outcomeAt = res.Outcome.Result, at(res.Outcome.AtSeconds)
		}
		why := "-"
		if res.Outcome.Reason != nil {
			why = res.Outcome.Reason.String()
		}
		fmt.Fprintf(table, "%s\t%s\t%s\t%s\t%d/%d\t%d/%d\t%d%%\t%s\n", res.Scenario, verdict(res), outcome, outcomeAt,
			res.Requests.Failed, res.Requests.Total, res.Requests.Canary.Failed, res.Requests.Canary.Total, res.MaxCanaryWeight(), why)
	}
	// Every row has cells, so the tabwriter holds them all until Flush,
	// which returns any write error.
	if err := table.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, tallyLine(results))
	return err
}
