package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/scenario"
)

func newListCommand(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "list [FILE|DIR]...",
		Short: "List scenarios with what they expect",
		RunE: func(cmd *cobra.Command, args []string) error {
			scenarios, err := scenario.LoadAll(defaultPaths(args))
			if err != nil {
				return err
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
}

func firstSentence(text string) string {
	for i, r := range text {
		if r == '.' {
			return text[:i+1]
		}
	}
	return text
}
