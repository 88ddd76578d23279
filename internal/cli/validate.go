package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/argorollouts"
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
				if sc.Spec.Controller != scenario.ControllerArgoRollouts {
					fmt.Fprintf(streams.Out, "ok   %s (%s; the sim does not model %s yet)\n", sc.Metadata.Name, sc.Path, sc.Spec.Controller)
					continue
				}
				manifests, err := argorollouts.Decode(sc.Documents)
				var invalid *scenario.InvalidError
				if errors.As(err, &invalid) {
					problems = append(problems, invalid.Problems...)
					continue
				}
				if err != nil {
					return err
				}
				note := ""
				if err := manifests.Unsupported(); err != nil {
					note = fmt.Sprintf(" — warning: %v", err)
				}
				fmt.Fprintf(streams.Out, "ok   %s (%s)%s\n", sc.Metadata.Name, sc.Path, note)
			}
			if len(problems) > 0 {
				return &scenario.InvalidError{Problems: problems}
			}
			return nil
		},
	}
}
