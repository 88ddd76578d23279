package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/canarylab/canarylab/internal/live"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// liveView shows the run of one scenario to browsers at --serve while it
// runs, and its result after, until the context ends (Ctrl-C).
type liveView struct {
	view   *live.Server
	server *http.Server
	served chan error
	notes  io.Writer
}

// startLiveView listens at serve (--serve) and serves the view of sc, run
// at pace; notes receives where, and later that the run is over.
func startLiveView(notes io.Writer, serve string, pace float64, sc *scenario.Scenario) (*liveView, error) {
	addr := serve
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		// A bare :port binds loopback only: a workshop view is not a public service.
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: --serve %s: %w", runner.ErrBackend, serve, err)
	}
	view := live.New(sc)
	// The view answers only requests that name the address it listens on.
	lv := &liveView{view: view, server: view.HTTPServer(listener.Addr().String()), served: make(chan error, 1), notes: notes}
	go func() { lv.served <- lv.server.Serve(listener) }()
	fmt.Fprintf(notes, "live view of %s at http://%s/ (pace %gx); Ctrl-C stops\n", sc.Metadata.Name, listener.Addr(), pace)
	return lv, nil
}

// watch sends the run's events and states to the view as well as to
// opts' own Progress and State, and the view's actions to the run.
func (lv *liveView) watch(opts *runner.Options) {
	progress, state := opts.Progress, opts.State
	opts.Actions = lv.view.Actions()
	opts.Progress = func(name string, event result.Event) {
		lv.view.Event(name, event)
		if progress != nil {
			progress(name, event)
		}
	}
	opts.State = func(name string, snapshot runner.State) {
		lv.view.State(name, snapshot)
		if state != nil {
			state(name, snapshot)
		}
	}
}

// result shows the run's result; the view refuses actions from now on.
func (lv *liveView) result(res *result.Result) { lv.view.Result(res) }

// keepShowing serves the finished run until the context ends.
func (lv *liveView) keepShowing(ctx context.Context) error {
	fmt.Fprintln(lv.notes, "run finished; the live view keeps showing it until Ctrl-C")
	select {
	case <-ctx.Done():
		return nil
	case err := <-lv.served:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%w: live view: %w", runner.ErrBackend, err)
		}
		return nil
	}
}

// close ends the browsers' streams and stops the server.
func (lv *liveView) close(ctx context.Context) error {
	lv.view.Close()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := lv.server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("%w: stopping the live view: %w", runner.ErrBackend, err)
	}
	return nil
}
