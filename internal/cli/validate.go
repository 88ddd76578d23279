package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

// validated is one file in validate -o json|ndjson.
type validated struct {
	File string `json:"file"`
	// Name is the scenario's name, when the file got that far.
	Name     string    `json:"name,omitempty"`
	OK       bool      `json:"ok"`
	Problems []problem `json:"problems"`
	// Warnings are what is valid but will not work as meant (a webhook
	// nothing answers) or what the sim does not model.
	Warnings []string `json:"warnings"`
}

// problem is one thing wrong: where (file:line, of the scenario file or a
// manifest it names) and what.
type problem struct {
	Where   string `json:"where"`
	Message string `json:"message"`
}

func newValidateCommand(streams Streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate [FILE|DIR]...",
		Short: "Check scenario files and their manifests without running them",
		Long: `Checks each scenario file and the manifests it names as a run would, without running
it: every problem with file:line. Exit 0 when every file is valid, 2 when any is not
(the problems on stderr, and per file in -o json|ndjson).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			files, err := validateFiles(defaultPaths(args))
			if err != nil {
				return err
			}
			var all []scenario.Problem
			items := make([]validated, 0, len(files))
			for _, file := range files {
				all = append(all, file.problems...)
				items = append(items, file.validated)
			}
			if machineOutput(output) {
				if err := writeItems(streams.Out, output, items); err != nil {
					return err
				}
			} else {
				for _, item := range items {
					if !item.OK {
						continue // its problems are on stderr, with every other file's
					}
					fmt.Fprintf(streams.Out, "ok   %s (%s)\n", item.Name, item.File)
					for _, note := range item.Warnings {
						fmt.Fprintf(streams.Out, "     warning: %s\n", note)
					}
				}
			}
			if len(all) > 0 {
				return &scenario.InvalidError{Problems: all}
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output, "a verdict per file")
	return cmd
}

// fileVerdict is a file's verdict and its problems as the loader gives them.
type fileVerdict struct {
	validated
	problems []scenario.Problem
}

// validateFiles checks every scenario file paths name, one verdict per
// file (and one per path that names none), in order. It fails only for what
// is no problem of the input.
func validateFiles(paths []string) ([]fileVerdict, error) {
	var verdicts []fileVerdict
	add := func(file, name string, problems []scenario.Problem, warnings []string) {
		verdict := fileVerdict{validated: validated{File: file, Name: name, OK: len(problems) == 0,
			Problems: []problem{}, Warnings: warnings}, problems: problems}
		if verdict.Warnings == nil {
			verdict.Warnings = []string{}
		}
		for _, p := range problems {
			verdict.Problems = append(verdict.Problems, problem{Where: scenario.Position(p.File, p.Line), Message: p.Message})
		}
		verdicts = append(verdicts, verdict)
	}
	files, err := scenario.ExpandPaths(paths)
	var invalid *scenario.InvalidError
	switch {
	case errors.As(err, &invalid):
		for _, p := range invalid.Problems {
			add(p.File, "", []scenario.Problem{p}, nil)
		}
	case err != nil:
		return nil, err
	}
	names := map[string]string{} // scenario name → the file that has it
	for _, file := range files {
		sc, err := scenario.Load(file)
		var problems []scenario.Problem
		switch {
		case errors.As(err, &invalid):
			problems = invalid.Problems
		case err != nil:
			return nil, err
		}
		if sc == nil {
			add(file, "", problems, nil)
			continue
		}
		// Reports are named after scenarios, so names are unique in a run
		// (as scenario.LoadAll has it).
		if previous, taken := names[sc.Metadata.Name]; taken && sc.Metadata.Name != "" {
			problems = append(problems, scenario.Problem{File: file, Line: sc.Line("metadata.name"),
				Message: fmt.Sprintf("scenario name %q is also used by %s: names must be unique (reports are named after them)", sc.Metadata.Name, previous)})
		} else {
			names[sc.Metadata.Name] = file
		}
		var warnings []string
		if err == nil {
			var modelErr error
			if warnings, modelErr = checkManifests(sc); errors.As(modelErr, &invalid) {
				problems = append(problems, invalid.Problems...)
			} else if modelErr != nil {
				return nil, modelErr
			}
		}
		add(file, sc.Metadata.Name, problems, warnings)
	}
	return verdicts, nil
}

// checkManifests decodes the scenario's manifests as its controller's model
// does, and returns the warnings: what will not work as meant and what the
// sim does not model.
func checkManifests(sc *scenario.Scenario) ([]string, error) {
	var notes []string
	for _, note := range sc.Notes {
		notes = append(notes, note.String())
	}
	queries, err := sim.QueryWarnings(sc)
	if err != nil {
		return nil, err
	}
	notes = append(notes, queries...)
	if sc.Spec.Controller == scenario.ControllerFlagger {
		manifests, err := flagger.DecodeScenario(sc)
		if err != nil {
			return nil, err
		}
		notes = append(notes, manifests.Warnings()...)
		if unanswerable := manifests.Unanswerable(); unanswerable != nil {
			notes = append(notes, unanswerable.Error())
		}
		if unsupported := manifests.Unsupported(); unsupported != nil {
			notes = append(notes, unsupported.Error())
		}
		return notes, nil
	}
	manifests, err := argorollouts.DecodeScenario(sc)
	if err != nil {
		return nil, err
	}
	if unsupported := manifests.Unsupported(); unsupported != nil {
		notes = append(notes, unsupported.Error())
	}
	return notes, nil
}
