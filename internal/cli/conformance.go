package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/conformance"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

type conformanceFlags struct {
	against   string
	seed      int64
	markdown  bool
	reportDir string
}

func newConformanceCommand(streams Streams, open backendMaker) *cobra.Command {
	flags := &conformanceFlags{}
	cmd := &cobra.Command{
		Use:   "conformance [FILE|DIR]...",
		Short: "Run scenarios on the sim and on another backend, and compare their decisive moments (default: conformance/)",
		Long: `conformance runs each scenario on the sim, then on the backend named by --against
(one after the other), and prints a table: the outcome on each backend and, for each
decisive moment (the outcome, each WeightChanged, each AnalysisRunCompleted, each
RolloutPaused, RolloutAborted and RolloutPromoted, paired by type and occurrence), its
time on each backend, the difference and the tolerance, max(2s, 5% of the later time).
A scenario agrees when the outcomes match and every decisive moment is within tolerance.

Exit codes: 0 every scenario agrees, 1 some disagree, 2 invalid input or usage,
3 a backend could not run.`,
		Example: `  canarylab conformance                      # conformance/ on sim and local
  canarylab conformance --against sim        # the sim against itself: must agree
  canarylab conformance conformance/abort-action-rolls-back.yaml --markdown --report-dir out/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths := args
			if len(paths) == 0 {
				paths = []string{"conformance"}
			}
			return runConformance(cmd, streams, open, flags, paths)
		},
	}
	cmd.Flags().StringVar(&flags.against, "against", "local", "the backend to compare with the sim")
	cmd.Flags().Int64Var(&flags.seed, "seed", 1, "seed of the runs (the sim's randomness and scrape phase)")
	cmd.Flags().BoolVar(&flags.markdown, "markdown", false, "print the comparison as Markdown (a summary table and the disagreements)")
	cmd.Flags().StringVar(&flags.reportDir, "report-dir", "", "write each backend's result as DIR/<backend>/<scenario>.json, and the table as DIR/conformance.md")
	return cmd
}

func runConformance(cmd *cobra.Command, streams Streams, open backendMaker, flags *conformanceFlags, paths []string) (err error) {
	if flags.against == "" {
		return &usageError{errors.New("--against needs a backend name, e.g. local")}
	}
	var backends [2]runner.Backend
	defer func() { err = closeBackends(err, backends[:]...) }()
	for i, name := range []string{sim.Name, flags.against} {
		if backends[i], err = open(name); err != nil {
			return err
		}
	}
	scenarios, err := scenario.LoadAll(paths)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	opts := runner.Options{Seed: flags.seed}
	var rows []conformance.Row
	var backendErrs []error
	for _, sc := range scenarios {
		var results [2]*result.Result
		for i, backend := range []string{sim.Name, flags.against} {
			fmt.Fprintf(streams.Err, "▶ %s on %s\n", sc.Metadata.Name, backend)
			res, err := runner.Run(ctx, backends[i], sc, opts)
			if err != nil && res == nil {
				if errors.Is(err, scenario.ErrInvalid) {
					return err
				}
				res = &result.Result{Scenario: sc.Metadata.Name, Backend: backend, Seed: flags.seed, Events: []result.Event{}, Error: err.Error()}
			}
			if res.Backend == "" {
				res.Backend = backend
			}
			if res.Scenario == "" {
				res.Scenario = sc.Metadata.Name
			}
			if err != nil {
				backendErrs = append(backendErrs, fmt.Errorf("%s on %s: %w", sc.Metadata.Name, backend, err))
				fmt.Fprintf(streams.Err, "  error: %v\n", err)
			} else {
				fmt.Fprintf(streams.Err, "  %s at %s\n", res.Outcome.Result, conformance.FormatDuration(res.Outcome.At()))
			}
			results[i] = res
			if ctx.Err() != nil {
				break
			}
		}
		if results[1] == nil {
			break // interrupted before the second backend ran
		}
		if flags.reportDir != "" {
			if err := writeConformanceResults(flags.reportDir, results); err != nil {
				return err
			}
		}
		rows = append(rows, conformance.CompareScenario(sc, results[0], results[1]))
		if ctx.Err() != nil {
			break
		}
	}
	if flags.markdown {
		fmt.Fprint(streams.Out, conformance.Markdown(rows))
	} else {
		fmt.Fprint(streams.Out, conformance.Table(rows))
	}
	if flags.reportDir != "" {
		path := filepath.Join(flags.reportDir, "conformance.md")
		if err := os.WriteFile(path, []byte(conformance.Markdown(rows)), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err := ctx.Err(); err != nil {
		backendErrs = append(backendErrs, fmt.Errorf("conformance run interrupted: %w", err))
	}
	if len(backendErrs) > 0 {
		return fmt.Errorf("%w: %w", runner.ErrBackend, errors.Join(backendErrs...))
	}
	disagreeing := 0
	for _, row := range rows {
		if !row.Agrees {
			disagreeing++
		}
	}
	if disagreeing > 0 {
		return fmt.Errorf("%w: %d of %d scenarios disagree between %s and %s", ErrExpectationFailed, disagreeing, len(rows), sim.Name, flags.against)
	}
	return nil
}

// writeConformanceResults writes each backend's result as
// dir/<backend>/<scenario>.json; the second of two runs on the same
// backend (--against sim) goes to dir/<backend>-again/.
func writeConformanceResults(dir string, results [2]*result.Result) error {
	for i, res := range results {
		sub := res.Backend
		if i == 1 && res.Backend == results[0].Backend {
			sub += "-again"
		}
		data, err := res.JSON()
		if err != nil {
			return err
		}
		path := filepath.Join(dir, sub, res.Scenario+".json")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("writing results to %s: %w", dir, err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}
