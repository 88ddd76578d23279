package argorollouts

import (
	"fmt"
	"time"
)

// Reasons of the Rollout's Progressing condition (AR utils/conditions/conditions.go).
const (
	progressUpdated   = "ReplicaSetUpdated"
	progressAvailable = "NewReplicaSetAvailable"
	progressTimedOut  = "ProgressDeadlineExceeded"
	progressAborted   = "RolloutAborted"
	progressPaused    = "RolloutPaused"
	progressResumed   = "RolloutResumed"
	progressRetry     = "RolloutRetry"
)

// rolloutCounts is the part of the Rollout's status that says whether it
// progressed since the last reconcile (AR rollout/sync.go
// calculateBaseStatus, utils/conditions RolloutProgressing).
type rolloutCounts struct {
	replicas, updated, ready, available, step int
	stable, current                           string
}

// counts is the status this reconcile writes: pods of every ReplicaSet, of
// the new one, ready and available ones, the step and the stable hash.
func (c *Controller) counts() rolloutCounts {
	counts := rolloutCounts{step: c.currentStepIndex, stable: c.stableHash, current: c.currentHash}
	now := c.loop.Now()
	for _, rs := range c.world.ReplicaSets() {
		counts.replicas += rs.Replicas()
		counts.ready += rs.ReadyReplicas()
		counts.available += rs.AvailableReplicas(now)
		if rs.Hash == c.currentHash {
			counts.updated = rs.Replicas()
		}
	}
	return counts
}

// progressed: more updated pods, fewer old ones, more ready or available
// pods, another step or another stable ReplicaSet
// (AR utils/conditions/conditions.go:253-282 RolloutProgressing).
func (c *Controller) progressed(old, now rolloutCounts) bool {
	return now.updated != old.updated ||
		now.replicas-now.updated < old.replicas-old.updated ||
		now.ready > old.ready || now.available > old.available ||
		now.step != old.step || now.stable != old.stable
}

// rolloutHealthy: every replica updated and available, all steps done, the
// new ReplicaSet stable and the old pods gone
// (AR utils/conditions/conditions.go:284-313 RolloutHealthy).
func (c *Controller) rolloutHealthy(now rolloutCounts) bool {
	replicas := c.m.Rollout.Replicas()
	return now.updated == replicas && now.available == replicas && now.replicas == replicas &&
		now.step == len(c.canary.Steps) && now.stable != "" && now.stable == now.current
}

// setProgressing sets the Progressing condition; its lastUpdateTime is a
// metav1.Time, persisted in whole seconds. The same reason again keeps
// the time (AR utils/conditions SetRolloutCondition) unless refresh.
func (c *Controller) setProgressing(reason string, refresh bool) {
	if reason == c.progressing && !refresh {
		return
	}
	c.progressing = reason
	c.progressUpdated = c.loop.Now().Truncate(time.Second)
}

// checkPausedConditions runs first in a reconcile, on the status as
// persisted: a pause or resume replaces the Progressing condition, so time
// paused never counts against the deadline, and a retried abort's
// condition becomes RolloutRetry (AR rollout/sync.go:482-520,
// rollout/context.go:58).
func (c *Controller) checkPausedConditions() {
	paused := len(c.pauseConditions) > 0 || c.paused
	aborted := c.progressing == progressAborted
	if paused != (c.progressing == progressPaused) && !aborted && !c.FullyPromoted() {
		if paused {
			c.setProgressing(progressPaused, false)
		} else {
			c.setProgressing(progressResumed, false)
		}
	}
	if !c.abort && aborted {
		c.setProgressing(progressRetry, false)
	}
}

// indefiniteStep: a pause or analysis step, or a pause, does not count
// against the deadline (AR rollout/sync.go:560-572 isIndefiniteStep).
func (c *Controller) indefiniteStep() bool {
	if step := c.currentStep(); step != nil && (step.Pause != nil || step.Analysis != nil) {
		return true
	}
	return c.paused || len(c.pauseConditions) > 0
}

// waitingForScaleDown: an old ReplicaSet still has a scale-down deadline
// (AR rollout/sync.go:574-585 isWaitingForReplicaSetScaleDown).
func (c *Controller) waitingForScaleDown() bool {
	for _, rs := range c.otherRSs() {
		if _, annotated := c.scaleDownAt[rs.Hash]; annotated {
			return true
		}
	}
	return false
}

func (c *Controller) progressDeadline() time.Duration {
	if seconds := c.m.Rollout.Spec.ProgressDeadlineSeconds; seconds != nil {
		return time.Duration(*seconds) * time.Second
	}
	return 600 * time.Second
}

// deadlinePassed: the Progressing condition says the rollout timed out, or
// its lastUpdateTime plus progressDeadlineSeconds is before now; never
// after an abort or during a pause (AR utils/conditions/conditions.go:341-370
// RolloutTimedOut).
func (c *Controller) deadlinePassed() bool {
	switch c.progressing {
	case "", progressAborted, progressPaused:
		return false
	case progressTimedOut:
		return true
	}
	return c.progressUpdated+c.progressDeadline() < c.loop.Now()
}

// updateProgressing computes the Progressing condition as the status is
// persisted (AR rollout/sync.go:621-714 calculateRolloutConditions): an
// abort says so; a healthy rollout has its new ReplicaSet available; any
// progress refreshes the condition's time, which also ends a timeout; and
// without progress, outside pauses and scale-down delays, a deadline that
// passed times it out. With progressDeadlineAbort the same deadline aborts
// the update first (AR rollout/sync.go:587-619 evaluateProgressDeadlineAbort).
func (c *Controller) updateProgressing() {
	now := c.counts()
	progressed := c.progressed(c.observed, now)
	healthy := !c.paused && len(c.pauseConditions) == 0 && c.rolloutHealthy(now)
	becameUnhealthy := c.healthy && !healthy
	c.observed, c.healthy = now, healthy
	if c.abort {
		c.setProgressing(progressAborted, false)
		return
	}
	switch {
	case c.rolloutHealthy(now):
		c.setProgressing(progressAvailable, false)
	case progressed || becameUnhealthy:
		c.setProgressing(progressUpdated, true)
	case !c.indefiniteStep() && !c.waitingForScaleDown() && c.deadlinePassed():
		if c.progressing != progressTimedOut {
			c.setProgressing(progressTimedOut, false)
			if c.m.Rollout.Spec.ProgressDeadlineAbort && !c.FullyPromoted() {
				c.addAbort(fmt.Sprintf("ReplicaSet %q has timed out progressing.", c.newRS().Name))
				c.enqueue()
			}
		}
	default:
		c.requeueStuck()
	}
}

// requeueStuck requeues a rollout that shows no progress for the moment
// its deadline passes: a second after it, or at once when it is less than
// a second away (AR rollout/sync.go:841-885 requeueStuckRollout).
func (c *Controller) requeueStuck() {
	if c.progressing == "" || c.progressing == progressTimedOut || c.abort || c.indefiniteStep() {
		return
	}
	deadline := c.progressUpdated + c.progressDeadline()
	if deadline < c.loop.Now() {
		// Passed while an old ReplicaSet waits for its scale-down, whose
		// deadline reconciles the rollout again; the controller's
		// rate-limited immediate requeues until then change nothing.
		return
	}
	if deadline-c.loop.Now() < time.Second {
		c.enqueueAt(deadline + time.Millisecond)
	} else {
		c.enqueueAt(deadline + time.Second)
	}
}
