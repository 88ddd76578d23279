// Package cli is the canarylab command line: one file per subcommand, each a
// flag struct and a run function that calls the library and returns an
// error. Only Main exits.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Exit codes (docs/architecture.md#cli-and-exit-codes).
const (
	ExitPassed  = 0
	ExitFailed  = 1
	ExitInvalid = 2
	ExitBackend = 3
)

// ErrExpectationFailed marks a run whose expectations did not hold.
var ErrExpectationFailed = errors.New("expectations failed")

// Streams are the command's input and outputs.
type Streams struct {
	Out, Err io.Writer
}

// ExitInterrupted is the exit code of a second Ctrl-C (128 + SIGINT).
const ExitInterrupted = 130

// Main runs the command line with the process's arguments and exits.
func Main() {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	// The sim's metric store writes nothing to disk, so exiting at once
	// leaves nothing of it to clean up.
	go handleSignals(signals, os.Stderr, cancel, func() { os.Exit(ExitInterrupted) })
	code := Run(ctx, Streams{Out: os.Stdout, Err: os.Stderr}, os.Args[1:])
	signal.Stop(signals)
	cancel()
	os.Exit(code)
}

// handleSignals cancels the run at the first signal, so that it stops,
// writes its report and cleans up; at the second it calls exit at once.
func handleSignals(signals <-chan os.Signal, stderr io.Writer, cancel func(), exit func()) {
	first, ok := <-signals
	if !ok {
		return
	}
	fmt.Fprintf(stderr, "canarylab: %v: stopping the run and cleaning up (once more to exit at once)\n", first)
	cancel()
	if _, ok := <-signals; !ok {
		return
	}
	fmt.Fprintln(stderr, "canarylab: exiting at once; what a cluster backend started may still run: canarylab cluster down stops it")
	exit()
}

// Run executes one command line and returns its exit code.
func Run(ctx context.Context, streams Streams, args []string) int {
	return runWith(ctx, streams, args, openBackend)
}

// runWith is Run with the backends open makes.
func runWith(ctx context.Context, streams Streams, args []string, open backendMaker) int {
	root := newRoot(streams, open)
	root.SetArgs(args)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitPassed
	}
	code := exitCode(err)
	if !errors.Is(err, ErrExpectationFailed) {
		fmt.Fprintf(streams.Err, "canarylab: %v\n", err)
	}
	return code
}

func exitCode(err error) int {
	var usage *usageError
	switch {
	case errors.Is(err, ErrExpectationFailed):
		return ExitFailed
	case errors.Is(err, scenario.ErrInvalid), errors.As(err, &usage):
		return ExitInvalid
	case errors.Is(err, runner.ErrBackend), errors.Is(err, context.Canceled):
		return ExitBackend
	}
	return ExitBackend
}

// usageError is a mistake on the command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func newRoot(streams Streams, open backendMaker) *cobra.Command {
	root := &cobra.Command{
		Use:   "canarylab",
		Short: "Test progressive delivery: replay releases, inject faults, assert promotion or rollback",
		Long: `canarylab replays scenarios - a Rollout and its analysis templates, a stable and a
release image, load and faults - and asserts what must happen: promoted within 5m,
or rolled back within 90s with at most 2% of requests failed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.Args = func(_ *cobra.Command, args []string) error {
		if len(args) > 0 {
			return &usageError{fmt.Errorf("unknown command %q: see canarylab --help", args[0])}
		}
		return nil
	}
	showVersion := root.Flags().Bool("version", false, "print the version, as canarylab version does")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if *showVersion {
			return printVersion(streams.Out, outputText)
		}
		return cmd.Help()
	}
	root.AddCommand(newRunCommand(streams, open), newValidateCommand(streams), newListCommand(streams), newClusterCommand(streams),
		newConformanceCommand(streams, open), newVersionCommand(streams))
	root.AddCommand(newImageCommand(streams))
	root.AddCommand(newPlatformCommand(streams))
	return root
}

// defaultPaths is the catalog when no path is given.
func defaultPaths(args []string) []string {
	if len(args) == 0 {
		return []string{"scenarios"}
	}
	return args
}
