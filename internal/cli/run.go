package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/reports"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

type runFlags struct {
	backend   string
	seed      int64
	output    string
	reportDir string
	pace      float64
	quiet     bool
	serve     string
	keep      bool
}

func newRunCommand(streams Streams, open backendMaker) *cobra.Command {
	flags := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [FILE|DIR]...",
		Short: "Run scenarios (default: the catalog in scenarios/)",
		Example: `  canarylab run
  canarylab run scenarios/bad-release-rolls-back.yaml --seed 7 --output json
  canarylab run scenarios/ --report-dir out/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScenarios(cmd, streams, open, flags, defaultPaths(args))
		},
	}
	cmd.Flags().StringVar(&flags.backend, "backend", sim.Name, "backend: sim (models, virtual time), local or kind")
	cmd.Flags().Int64Var(&flags.seed, "seed", 1, "seed of the sim's randomness: the same seed gives the same result")
	cmd.Flags().StringVarP(&flags.output, "output", "o", "text", "output: text or json")
	cmd.Flags().StringVar(&flags.reportDir, "report-dir", "", "write JSON, JUnit XML and Markdown reports per run into this directory")
	cmd.Flags().Float64Var(&flags.pace, "pace", 0, "run the sim clock at N x wall time (default: as fast as it can)")
	cmd.Flags().BoolVarP(&flags.quiet, "quiet", "q", false, "text output: no event timeline, only the summary")
	cmd.Flags().BoolVar(&flags.keep, "keep", false, "local and kind backends: leave the cluster the run started running after it (delete it with `canarylab cluster down [--provider kind]`)")
	cmd.Flags().StringVar(&flags.serve, "serve", "", "show the run live in a browser at http://ADDR/ (one scenario; the sim paced at 1x unless --pace)")
	return cmd
}

func runScenarios(cmd *cobra.Command, streams Streams, open backendMaker, flags *runFlags, paths []string) (err error) {
	if flags.output != "text" && flags.output != "json" {
		return &usageError{fmt.Errorf("--output %q: use text or json", flags.output)}
	}
	if flags.pace < 0 {
		return &usageError{fmt.Errorf("--pace %v must not be negative", flags.pace)}
	}
	backend, err := open(flags.backend)
	if err != nil {
		return err
	}
	defer func() { err = closeBackends(err, backend) }()
	scenarios, err := scenario.LoadAll(paths)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	opts := runner.Options{Seed: flags.seed, Pace: flags.pace, Keep: flags.keep}
	if flags.output == "text" && !flags.quiet {
		opts.Progress = textProgress(streams.Out)
		opts.State = textState(streams.Out)
	}
	var view *liveView
	if flags.serve != "" {
		if len(scenarios) != 1 {
			return &usageError{fmt.Errorf("--serve shows one scenario; %d were given", len(scenarios))}
		}
		if !cmd.Flags().Changed("pace") {
			opts.Pace = 1
		}
		notes := streams.Out
		if flags.output == "json" {
			notes = streams.Err // stdout is the JSON result only
		}
		if view, err = startLiveView(notes, flags.serve, opts.Pace, scenarios[0]); err != nil {
			return err
		}
		defer func() {
			if closeErr := view.close(ctx); closeErr != nil {
				err = errors.Join(err, closeErr)
			}
		}()
		view.watch(&opts)
	}
	var results []*result.Result
	var backendErrs []error
	for _, sc := range scenarios {
		if flags.output == "text" {
			fmt.Fprintf(streams.Out, "▶ %s (%s)\n", sc.Metadata.Name, sc.Path)
		}
		res, err := runner.Run(ctx, backend, sc, opts)
		if err != nil && res == nil {
			if errors.Is(err, scenario.ErrInvalid) {
				return err
			}
			// The backend could not run it: report that as a result too.
			res = &result.Result{Scenario: sc.Metadata.Name, Backend: flags.backend, Seed: flags.seed,
				Events: []result.Event{}, Error: err.Error()}
			runner.Evaluate(sc, res)
		}
		if err != nil {
			backendErrs = append(backendErrs, fmt.Errorf("%s: %w", sc.Metadata.Name, err))
		}
		results = append(results, res)
		if view != nil {
			view.result(res)
		}
		switch flags.output {
		case "json":
			data, jsonErr := res.JSON()
			if jsonErr != nil {
				return jsonErr
			}
			streams.Out.Write(data)
		default:
			printVerdict(streams.Out, res)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if flags.reportDir != "" {
		written, err := reports.WriteDir(flags.reportDir, results)
		if err != nil {
			return fmt.Errorf("writing reports to %s: %w", flags.reportDir, err)
		}
		if flags.output == "text" {
			fmt.Fprintf(streams.Out, "reports: %d files in %s\n", len(written), flags.reportDir)
		}
	}
	if flags.output == "text" {
		fmt.Fprintln(streams.Out)
		if err := reports.Summary(streams.Out, results); err != nil {
			return err
		}
	}
	if len(backendErrs) > 0 {
		return errors.Join(backendErrs...)
	}
	if view != nil {
		if err := view.keepShowing(ctx); err != nil {
			return err
		}
	}
	for _, res := range results {
		if !res.Passed {
			return ErrExpectationFailed
		}
	}
	return nil
}

// textProgress prints the timeline as it happens: steps, weights, analysis
// and faults, one line each.
func textProgress(out io.Writer) func(string, result.Event) {
	return func(_ string, event result.Event) {
		fmt.Fprintf(out, "  %8.3fs  %s %s\n", event.AtSeconds, event.Type, event.Describe())
	}
}

// textState prints the rollout's state every 30 seconds of the run: the
// weight, the step, the phase and the requests so far.
func textState(out io.Writer) func(string, runner.State) {
	var requests, failed int64
	return func(_ string, state runner.State) {
		if state.AtSeconds == 0 {
			requests, failed = 0, 0
		}
		requests += state.Requests["stable"] + state.Requests["canary"]
		failed += state.Failed["stable"] + state.Failed["canary"]
		if state.AtSeconds == 0 || int64(state.AtSeconds)%30 != 0 {
			return
		}
		step := "-"
		if state.Steps > 0 {
			step = fmt.Sprintf("%d/%d", min(state.Step+1, state.Steps), state.Steps)
		}
		fmt.Fprintf(out, "  %8.3fs  · canary %d%% · step %s · %s · %d requests, %d failed\n", state.AtSeconds, state.CanaryWeight, step, state.Phase, requests, failed)
	}
}

func printVerdict(out io.Writer, res *result.Result) {
	verdict := "PASS"
	if !res.Passed {
		verdict = "FAIL"
	}
	if res.Error != "" {
		verdict = "ERROR"
	}
	fmt.Fprintf(out, "%s %s: %s at %gs; %d of %d requests failed (canary %d of %d)\n", verdict, res.Scenario,
		res.Outcome.Result, res.Outcome.AtSeconds, res.Requests.Failed, res.Requests.Total, res.Requests.Canary.Failed, res.Requests.Canary.Total)
	for _, assertion := range res.Assertions {
		mark := "✓"
		if !assertion.Passed {
			mark = "✗"
		}
		fmt.Fprintf(out, "    %s %s: %s\n", mark, assertion.Name, assertion.Detail)
	}
	if res.Error != "" {
		fmt.Fprintf(out, "    error: %s\n", res.Error)
	}
}
