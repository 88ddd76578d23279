package sim

import (
	"context"
	"time"

	"github.com/canarylab/canarylab/scenario"
)

// pacer holds the virtual clock to a multiple of wall time, for watching a
// run live. It is the only place the sim reads the wall clock.
type pacer struct {
	factor    float64
	wallStart time.Time
	simStart  time.Duration
	started   bool
}

func newPacer(factor float64) *pacer { return &pacer{factor: factor} }

// virtualNow is the virtual time that corresponds to now.
func (p *pacer) virtualNow() time.Duration {
	return p.simStart + time.Duration(float64(time.Since(p.wallStart))*p.factor)
}

// waitUntil blocks until virtual time next is due in wall time, or until an
// action arrives, which it returns.
func (p *pacer) waitUntil(ctx context.Context, next time.Duration, actions <-chan scenario.Event) (*scenario.Event, error) {
	if !p.started {
		p.wallStart, p.simStart, p.started = time.Now(), next, true
		return nil, nil
	}
	due := p.wallStart.Add(time.Duration(float64(next-p.simStart) / p.factor))
	wait := time.Until(due)
	if wait <= 0 {
		return nil, nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timer.C:
		return nil, nil
	case action, ok := <-actions:
		if !ok {
			return nil, nil
		}
		return &action, nil
	}
}
