package argorollouts

import (
	"time"

	"github.com/canarylab/canarylab/scenario"
)

// Phases of a Rollout (AR utils/rollout/rolloututil.go CalculateRolloutPhase).
const (
	PhaseHealthy     = "Healthy"
	PhaseProgressing = "Progressing"
	PhasePaused      = "Paused"
	PhaseDegraded    = "Degraded"
)

// Progress is what a Rollout's outcome is read from, on the sim's model and
// on a real cluster alike: its phase and abort flag now, whether the new
// ReplicaSet has become the stable one, and when during the run it was
// promoted, aborted, or began to wait for a person (nil: not since the
// release).
type Progress struct {
	Phase                           string
	Abort, FullyPromoted            bool
	PromotedAt, AbortedAt, PausedAt *time.Duration
}

// Outcome is a Rollout's outcome (docs/architecture.md#outcomes) and since
// when; nil for degraded, which holds at the end of the run. A timed pause
// is no wait for a person: a run that ends in one is degraded.
func Outcome(p Progress) (string, *time.Duration) {
	switch {
	case p.PromotedAt != nil && p.Phase == PhaseHealthy && p.FullyPromoted && !p.Abort:
		return scenario.OutcomePromoted, p.PromotedAt
	case p.AbortedAt != nil && p.Abort:
		return scenario.OutcomeRolledBack, p.AbortedAt
	case p.PausedAt != nil && p.Phase == PhasePaused:
		return scenario.OutcomePaused, p.PausedAt
	}
	return scenario.OutcomeDegraded, nil
}
