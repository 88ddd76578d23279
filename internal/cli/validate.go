package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/scenario"
)

func newValidateCommand(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "validate [FILE|DIR]...",
		Short: "Check scenario files and their manifests without running them",
		RunE: func(cmd *cobra.Command, args []string) error {
			scenarios, err := scenario.LoadAll(defaultPaths(args))
			if err != nil {
				return err
			}
			var problems []scenario.Problem
			for _, sc := range scenarios {
				var notes []string
				var err error
				if sc.Spec.Controller == scenario.ControllerFlagger {
					var manifests *flagger.Manifests
					if manifests, err = flagger.Decode(sc.Documents); err == nil {
						notes = manifests.Warnings()
						if unsupported := manifests.Unsupported(); unsupported != nil {
							notes = append(notes, unsupported.Error())
						}
					}
				} else {
					var manifests *argorollouts.Manifests
					if manifests, err = argorollouts.Decode(sc.Documents); err == nil {
						if unsupported := manifests.Unsupported(); unsupported != nil {
							notes = append(notes, unsupported.Error())
						}
					}
				}
				var invalid *scenario.InvalidError
				if errors.As(err, &invalid) {
					problems = append(problems, invalid.Problems...)
					continue
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(streams.Out, "ok   %s (%s)\n", sc.Metadata.Name, sc.Path)
				for _, note := range notes {
					fmt.Fprintf(streams.Out, "     warning: %s\n", note)
				}
			}
			if len(problems) > 0 {
				return &scenario.InvalidError{Problems: problems}
			}
			return nil
		},
	}
}
