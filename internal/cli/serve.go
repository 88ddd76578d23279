package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/canarylab/canarylab/internal/live"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// serveScenario runs one scenario while browsers watch it at flags.serve,
// then keeps showing the result until the context ends (Ctrl-C).
func serveScenario(ctx context.Context, streams Streams, flags *runFlags, sc *scenario.Scenario) error {
	addr := flags.serve
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		// A bare :port binds loopback only: a workshop view is not a public service.
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: --serve %s: %w", runner.ErrBackend, flags.serve, err)
	}
	view := live.New(sc)
	// The view answers only requests that name the address it listens on.
	server := view.HTTPServer(listener.Addr().String())
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	defer func() {
		view.Close()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		server.Shutdown(shutdownCtx)
	}()
	fmt.Fprintf(streams.Out, "live view of %s at http://%s/ (pace %gx); Ctrl-C stops\n", sc.Metadata.Name, listener.Addr(), flags.pace)

	text := textProgress(streams.Out)
	opts := runner.Options{Seed: flags.seed, Pace: flags.pace, Keep: flags.keep, Actions: view.Actions(), State: view.State,
		Progress: func(name string, event result.Event) {
			view.Event(name, event)
			if !flags.quiet {
				text(name, event)
			}
		}}
	res, runErr := runner.Run(ctx, flags.backend, sc, opts)
	if res != nil {
		view.Result(res)
		printVerdict(streams.Out, res)
	}
	if runErr != nil {
		return runErr
	}
	fmt.Fprintln(streams.Out, "run finished; the live view keeps showing it until Ctrl-C")
	select {
	case <-ctx.Done():
	case err := <-served:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%w: live view: %w", runner.ErrBackend, err)
		}
	}
	if !res.Passed {
		return ErrExpectationFailed
	}
	return nil
}
