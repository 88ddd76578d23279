package argorollouts

// canary.dynamicStableScale: the stable ReplicaSet holds only the pods its
// share of the traffic needs. It is scaled down after the canary weight
// rises, and on an abort (or a release of the stable image mid-update) it
// is scaled up again first while the canary weight steps back down through
// the setWeight steps, and the canary loses pods as the weight leaves it.

// dynamicCounts is the stable count, and the canary count on abort, with
// dynamicStableScale: each the higher of what the desired weight and what
// the weight of status.canary.weights need, so that the stable keeps its
// pods until the traffic has left it and, on abort, the canary keeps its
// pods until the traffic has left it (AR utils/replicaset/canary.go:386-411).
func (c *Controller) dynamicCounts(canary, weight int, weights *int) (int, int) {
	replicas, maxWeight := c.m.Rollout.Replicas(), c.maxWeight()
	stable := weightToReplicas(replicas, maxWeight-weight, maxWeight)
	if weights != nil {
		stable = max(stable, weightToReplicas(replicas, maxWeight-*weights, maxWeight))
		if c.abort {
			canary = max(canary, weightToReplicas(replicas, *weights, maxWeight))
		}
	}
	return canary, stable
}

// desiredCanaryWeight is the current setWeight, except on the abort of a
// dynamically scaled rollout: the highest setWeight step whose canary count
// is below the canary pods still needed, those the stable cannot serve yet
// or the canary's available pods, whichever is more; 0 below the lowest
// (AR utils/replicaset/canary.go:516-546 GetDesiredCanaryWeight).
func (c *Controller) desiredCanaryWeight() int {
	newRS, stableRS := c.newRS(), c.stableRS()
	if !c.abort || !c.canary.DynamicStableScale || newRS == nil || stableRS == nil {
		return c.currentSetWeight()
	}
	replicas, maxWeight := c.m.Rollout.Replicas(), c.maxWeight()
	needed := max(replicas-c.available(stableRS), c.available(newRS))
	for i := len(c.canary.Steps) - 1; i >= 0; i-- {
		if weight := c.canary.Steps[i].SetWeight; weight != nil && weightToReplicas(replicas, *weight, maxWeight) < needed {
			return *weight
		}
	}
	return 0
}

// abortWeight is the canary weight on abort, or while rolling back to the
// stable ReplicaSet: 0 without dynamicStableScale; with it the weight only
// goes down, to the desired weight once the stable's available pods can
// take the rest, and to what they cannot take once no step is left
// (AR rollout/trafficrouting.go:357-395 calculateDesiredWeightOnAbortOrStableRollback).
func (c *Controller) abortWeight() int {
	newRS, stableRS := c.newRS(), c.stableRS()
	replicas := c.m.Rollout.Replicas()
	if !c.canary.DynamicStableScale || newRS == nil || stableRS == nil || replicas == 0 {
		return 0
	}
	maxWeight := c.maxWeight()
	desired := c.desiredCanaryWeight()
	stableWeight := maxWeight * c.available(stableRS) / replicas
	current := c.statusWeight
	if desired <= 0 {
		return min(max(0, maxWeight-stableWeight), current)
	}
	if stableWeight < maxWeight-desired {
		// The stable is still scaling up: the weight stays.
		return current
	}
	return min(desired, current)
}

// rollingBackToStable: the stable image was released again during a
// dynamically scaled update, and the stable ReplicaSet is not yet
// available at full scale; the weights still name the previous canary
// (AR utils/rollout/rolloututil.go:25-44 IsDynamicallyRollingBackToStable).
func (c *Controller) rollingBackToStable() bool {
	if !c.FullyPromoted() || !c.routed() || !c.canary.DynamicStableScale {
		return false
	}
	return c.weightsHash != c.currentHash && c.available(c.newRS()) < c.m.Rollout.Replicas()
}

// stableCanServe: the stable ReplicaSet has the available pods the stable
// weight needs, else the weights are not written in this reconcile
// (AR rollout/trafficrouting.go:140-157 checkReplicasAvailable, 282-286).
func (c *Controller) stableCanServe(stableWeight int) bool {
	stableRS := c.stableRS()
	if stableRS == nil {
		return false
	}
	return c.available(stableRS) >= stableWeight*c.m.Rollout.Replicas()/c.maxWeight()
}

// delayScaleDownOnAbort: an aborted traffic-routed canary stays up for
// abortScaleDownDelaySeconds, but with dynamicStableScale only when that
// delay is set explicitly (AR rollout/replicaset.go:251-275 shouldDelayScaleDownOnAbort).
func (c *Controller) delayScaleDownOnAbort() bool {
	if !c.abort || c.stableRS() == nil || c.abortScaleDownDelay() == nil {
		return false
	}
	return !c.canary.DynamicStableScale || c.canary.AbortScaleDownDelaySeconds != nil
}
