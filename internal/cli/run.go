package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

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
	progress  string
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
	addOutputFlag(cmd, &flags.output, "the results")
	cmd.Flags().StringVar(&flags.reportDir, "report-dir", "", "write the reports into this directory: per scenario <name>.json, <name>.md and <name>.html, for the run junit.xml, summary.md and index.html")
	cmd.Flags().Float64Var(&flags.pace, "pace", 0, "run the sim clock at N x wall time (default: as fast as it can)")
	cmd.Flags().BoolVarP(&flags.quiet, "quiet", "q", false, "text output: no event timeline, only the summary; and no progress line")
	cmd.Flags().BoolVar(&flags.keep, "keep", false, "local and kind backends: leave the cluster the run started running after it (delete it with: canarylab cluster down [--provider kind])")
	cmd.Flags().StringVar(&flags.progress, "progress", progressAuto, "a progress line on stderr (rewritten in place on a terminal, else every 10s): auto (local and kind, not with --quiet), on or off")
	cmd.Flags().StringVar(&flags.serve, "serve", "", "show the run live in a browser at http://ADDR/ (one scenario; the sim paced at 1x unless --pace)")
	return cmd
}

func runScenarios(cmd *cobra.Command, streams Streams, open backendMaker, flags *runFlags, paths []string) (err error) {
	if err := checkOutput(flags.output); err != nil {
		return err
	}
	if flags.progress != progressAuto && flags.progress != progressOn && flags.progress != progressOff {
		return &usageError{fmt.Errorf("--progress %q: use auto, on or off", flags.progress)}
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
	if !flags.quiet {
		// What of the manifests the run passes over goes to stderr, so
		// that stdout stays the results.
		for _, sc := range scenarios {
			for _, note := range sc.Notes {
				fmt.Fprintf(streams.Err, "note: %s\n", note)
			}
		}
	}
	ctx := cmd.Context()
	opts := runner.Options{Seed: flags.seed, Pace: flags.pace, Keep: flags.keep}
	out := streams.Out
	var progress *progressLine
	if flags.progress == progressOn || flags.progress == progressAuto && !flags.quiet && backend.Name() != sim.Name {
		progress = newProgressLine(streams.Err)
		if stdoutTerminal, _ := terminalWidth(streams.Out); progress.terminal && stdoutTerminal {
			out = clearing{w: streams.Out, progress: progress}
		}
	}
	var states []func(string, runner.State)
	if flags.output == outputText && !flags.quiet {
		opts.Progress = textProgress(out)
		states = append(states, textState(out))
	}
	if progress != nil {
		states = append(states, progress.state)
	}
	if len(states) > 0 {
		opts.State = func(name string, state runner.State) {
			for _, show := range states {
				show(name, state)
			}
		}
	}
	var view *liveView
	if flags.serve != "" {
		if len(scenarios) != 1 {
			return &usageError{fmt.Errorf("--serve shows one scenario; %d were given", len(scenarios))}
		}
		if !cmd.Flags().Changed("pace") {
			opts.Pace = 1
		}
		notes := out
		if machineOutput(flags.output) {
			notes = streams.Err // stdout is the JSON results only
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
	results := []*result.Result{}
	var backendErrs []error
	var invalid error
	for _, sc := range scenarios {
		if flags.output == outputText {
			fmt.Fprintf(out, "▶ %s (%s)\n", sc.Metadata.Name, sc.Path)
		}
		if progress != nil {
			progress.start(sc.Metadata.Name)
		}
		started := time.Now()
		res, err := runner.Run(ctx, backend, sc, opts)
		if progress != nil {
			progress.clear()
		}
		if err != nil && res == nil {
			if errors.Is(err, scenario.ErrInvalid) {
				invalid = err
				break
			}
			// The backend could not run it: report that as a result too.
			res = &result.Result{Scenario: sc.Metadata.Name, Backend: flags.backend, Seed: flags.seed,
				Events: []result.Event{}, Error: err.Error(), Wall: time.Since(started)}
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
		case outputNDJSON:
			// One line per result as it is ready: a CI job can follow them.
			if err := writeJSONLine(streams.Out, res); err != nil {
				return err
			}
		case outputText:
			printVerdict(out, res)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if flags.output == outputJSON {
		// One document: the results so far, also when the run stops early.
		if err := writeJSONArray(streams.Out, results); err != nil {
			return err
		}
	}
	if invalid != nil {
		return invalid
	}
	if flags.reportDir != "" {
		written, err := reports.WriteDir(flags.reportDir, results)
		if err != nil {
			return fmt.Errorf("writing reports to %s: %w", flags.reportDir, err)
		}
		if flags.output == outputText {
			fmt.Fprintf(out, "reports: %d files in %s\n", len(written), flags.reportDir)
		}
	}
	if flags.output == outputText {
		fmt.Fprintln(out)
		if err := reports.Summary(out, results); err != nil {
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

// textProgress prints the timeline as it happens: steps (counted from 1),
// weights, analysis and faults, one line each.
func textProgress(out io.Writer) func(string, result.Event) {
	return func(_ string, event result.Event) {
		fmt.Fprintf(out, "  %8.3fs  %s %s\n", event.AtSeconds, event.Type, event.Text())
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

// printVerdict prints the verdict line and one line per assertion. The
// outcome is on one line: with a within expectation, its assertion says
// the outcome and its limit (the outcome assertion says no more).
func printVerdict(out io.Writer, res *result.Result) {
	verdict := "PASS"
	if !res.Passed {
		verdict = "FAIL"
	}
	if res.Error != "" {
		verdict = "ERROR"
	}
	var outcome, within *result.Assertion
	for i := range res.Assertions {
		switch res.Assertions[i].Name {
		case "outcome":
			outcome = &res.Assertions[i]
		case "within":
			within = &res.Assertions[i]
		}
	}
	headline := fmt.Sprintf("%s %s: ", verdict, res.Scenario)
	if outcome == nil {
		headline += fmt.Sprintf("%s at %gs; ", res.Outcome.Result, res.Outcome.AtSeconds)
	}
	fmt.Fprintf(out, "%s%d of %d requests failed (canary %d of %d)\n", headline,
		res.Requests.Failed, res.Requests.Total, res.Requests.Canary.Failed, res.Requests.Canary.Total)
	for _, assertion := range res.Assertions {
		switch {
		case assertion.Name == "within" && outcome != nil:
			continue // on the outcome's line
		case assertion.Name == "outcome" && within != nil:
			assertion = result.Assertion{Name: "outcome", Passed: outcome.Passed && within.Passed, Detail: within.Detail}
		}
		mark := "✓"
		if !assertion.Passed {
			mark = "✗"
		}
		fmt.Fprintf(out, "    %s %s: %s\n", mark, assertion.Name, assertion.Detail)
	}
	for _, declared := range res.Declared {
		fmt.Fprintf(out, "    declared, not observed: %s\n", declared)
	}
	if res.Error != "" {
		fmt.Fprintf(out, "    error: %s\n", res.Error)
	}
}
