package sim

import (
	"context"
	"time"
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

// waitUntil blocks until virtual time next is due in wall time.
func (p *pacer) waitUntil(ctx context.Context, next time.Duration) error {
	if !p.started {
		p.wallStart, p.simStart, p.started = time.Now(), next, true
		return nil
	}
	due := p.wallStart.Add(time.Duration(float64(next-p.simStart) / p.factor))
	wait := time.Until(due)
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
