package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/scenario"
)

// listed is one scenario in list -o json|ndjson.
type listed struct {
	Name        string      `json:"name"`
	File        string      `json:"file"`
	Controller  string      `json:"controller"`
	Release     string      `json:"release"`
	Description string      `json:"description"`
	Expectation expectation `json:"expectation"`
}

// expectation is spec.expect as the file says it (within, maxFailedRequests
// and maxCanaryWeight only when given).
type expectation struct {
	Outcome           string `json:"outcome"`
	Within            string `json:"within,omitempty"`
	MaxFailedRequests string `json:"maxFailedRequests,omitempty"`
	MaxCanaryWeight   *int   `json:"maxCanaryWeight,omitempty"`
}

func newListCommand(streams Streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list [FILE|DIR]...",
		Short: "List scenarios with what they expect",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			scenarios, err := scenario.LoadAll(defaultPaths(args))
			if err != nil {
				return err
			}
			if machineOutput(output) {
				items := make([]listed, 0, len(scenarios))
				for _, sc := range scenarios {
					items = append(items, listScenario(sc))
				}
				return writeItems(streams.Out, output, items)
			}
			table := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(table, "NAME\tCONTROLLER\tRELEASE\tEXPECT\tDESCRIPTION")
			for _, sc := range scenarios {
				expect := sc.Spec.Expect.Outcome
				if sc.Spec.Expect.Within.Duration > 0 {
					expect += " within " + sc.Spec.Expect.Within.Duration.String()
				}
				fmt.Fprintf(table, "%s\t%s\t%s\t%s\t%s\n", sc.Metadata.Name, sc.Spec.Controller, sc.Spec.Release, expect, firstSentence(sc.Metadata.Description))
			}
			return table.Flush()
		},
	}
	addOutputFlag(cmd, &output, "the scenarios")
	return cmd
}

// listScenario is what list -o json says of a scenario: the whole
// description, not only its first sentence.
func listScenario(sc *scenario.Scenario) listed {
	expect := sc.Spec.Expect
	item := listed{Name: sc.Metadata.Name, File: sc.Path, Controller: sc.Spec.Controller, Release: sc.Spec.Release,
		Description: sc.Metadata.Description, Expectation: expectation{Outcome: expect.Outcome, MaxCanaryWeight: expect.MaxCanaryWeight}}
	if expect.Within.Duration > 0 {
		item.Expectation.Within = expect.Within.Duration.String()
	}
	if expect.MaxFailedRequests != nil {
		item.Expectation.MaxFailedRequests = expect.MaxFailedRequests.String()
	}
	return item
}

// firstSentence is the text up to the first period that ends a sentence
// (one followed by white space or the end of the text, so that "about 3.5
// minutes" and "result[0] >= 0.95" are not cut), on one line.
func firstSentence(text string) string {
	words := strings.Fields(text)
	for i, word := range words {
		if strings.HasSuffix(word, ".") {
			return strings.Join(words[:i+1], " ")
		}
	}
	return strings.Join(words, " ")
}
