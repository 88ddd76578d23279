package engine

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Wall is the clock of a run on a real cluster: run time is the wall
// clock's since the release, and what is scheduled waits in a queue until
// a tick finds it due.
type Wall struct {
	// Time is the run time.
	Time func() time.Duration
	// Sync brings the backend up to the time before due entries run (the
	// data plane's traffic); its error ends the run as a backend error.
	Sync func() error
	// Tick is how often the clock looks at the time (default 50ms).
	Tick time.Duration

	queue   []wallEntry
	ticker  *time.Ticker
	started bool
}

type wallEntry struct {
	at time.Duration
	fn func()
}

// Now is the run time.
func (w *Wall) Now() time.Duration { return w.Time() }

// At queues fn for run time t, after what is queued for t already.
func (w *Wall) At(t time.Duration, fn func()) {
	i := sort.Search(len(w.queue), func(i int) bool { return w.queue[i].at > t })
	w.queue = append(w.queue, wallEntry{})
	copy(w.queue[i+1:], w.queue[i:])
	w.queue[i] = wallEntry{t, fn}
}

// Advance waits for the next tick (not before the first step) or a live
// action, brings the backend up to the time and runs what is due.
func (w *Wall) Advance(ctx context.Context, limit time.Duration, live <-chan scenario.Event) (*scenario.Event, bool, error) {
	if !w.started {
		w.started = true
		tick := w.Tick
		if tick == 0 {
			tick = 50 * time.Millisecond
		}
		w.ticker = time.NewTicker(tick)
	} else {
		// A pending live action is taken before time moves on, so that it
		// happens at the time it was asked for.
		select {
		case action, ok := <-live:
			if ok {
				return &action, true, nil
			}
			live = nil // closed: no more actions
		default:
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case action, ok := <-live:
			if ok {
				return &action, true, nil
			}
		case <-w.ticker.C:
		}
	}
	syncErr := w.Sync()
	now := w.Time()
	for len(w.queue) > 0 && w.queue[0].at <= now {
		next := w.queue[0]
		w.queue = w.queue[1:]
		next.fn()
	}
	if syncErr != nil {
		return nil, false, fmt.Errorf("%w: the data plane: %w", runner.ErrBackend, syncErr)
	}
	return nil, now < limit, nil
}
