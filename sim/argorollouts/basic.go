package argorollouts

import (
	"math"

	api "github.com/canarylab/canarylab/controller/argorollouts"

	"github.com/canarylab/canarylab/sim/dataplane"
)

// surgeAndUnavailable resolves maxSurge (rounded up) and maxUnavailable
// (rounded down), default 25% each; both zero makes maxUnavailable 1
// (AR utils/defaults, utils/replicaset MaxSurge/MaxUnavailable, as
// Deployments' ResolveFenceposts).
func (c *Controller) surgeAndUnavailable() (int, int) {
	replicas := c.m.Rollout.Replicas()
	surge, unavailable := api.IntOrString{Text: "25%"}, api.IntOrString{Text: "25%"}
	if c.canary.MaxSurge != nil {
		surge = *c.canary.MaxSurge
	}
	if c.canary.MaxUnavailable != nil {
		unavailable = *c.canary.MaxUnavailable
	}
	maxSurge, _ := surge.Scaled(replicas, true)
	maxUnavailable, _ := unavailable.Scaled(replicas, false)
	if maxSurge == 0 && maxUnavailable == 0 {
		maxUnavailable = 1
	}
	return maxSurge, min(maxUnavailable, replicas)
}

// approximateCounts picks the canary/stable split closest to the weight
// (AR utils/replicaset/canary.go approximateWeightedCanaryStableReplicaCounts).
func approximateCounts(replicas, weight, maxWeight, maxSurge int) (int, int) {
	if replicas == 0 {
		return 0, 0
	}
	type option struct{ canary, total int }
	exact := float64(replicas*weight) / float64(maxWeight)
	ceil, floor := int(math.Ceil(exact)), int(math.Floor(exact))
	tied := func(total int) bool {
		value := float64(weight*total) / float64(maxWeight)
		return math.Abs(value-math.Floor(value)-0.5) < 1e-9
	}
	zeroAllowed := weight == maxWeight || weight == 0 || (replicas == 1 && maxSurge == 0)
	var options []option
	if ceil < replicas || zeroAllowed {
		options = append(options, option{ceil, replicas})
	}
	if !tied(replicas) && (floor != 0 || zeroAllowed) {
		options = append(options, option{floor, replicas})
	}
	if maxSurge > 0 {
		options = append(options, option{ceil, replicas + 1})
		if !tied(replicas+1) && (floor != 0 || zeroAllowed) {
			options = append(options, option{floor, replicas + 1})
		}
	}
	if len(options) == 0 {
		return 0, replicas
	}
	delta := func(o option) float64 {
		return math.Abs(float64(o.canary)/float64(o.total) - float64(weight)/float64(maxWeight))
	}
	best := options[0]
	for _, o := range options[1:] {
		if delta(o) < delta(best) {
			best = o
		}
	}
	return best.canary, best.total - best.canary
}

// basicCanaryCounts approximates the weight with pod counts within
// maxSurge/maxUnavailable (AR utils/replicaset/canary.go CalculateReplicaCountsForBasicCanary).
func (c *Controller) basicCanaryCounts(weight int) (int, int) {
	replicas := c.m.Rollout.Replicas()
	maxSurge, maxUnavailable := c.surgeAndUnavailable()
	desiredNew, desiredStable := approximateCounts(replicas, weight, c.maxWeight(), maxSurge)
	newRS, stableRS := c.newRS(), c.stableRS()
	newCount, stableCount := 0, 0
	if newRS != nil {
		newCount = newRS.Desired
	}
	scaleStable := stableRS != nil && newRS != nil && stableRS != newRS
	if scaleStable {
		stableCount = stableRS.Desired
	} else {
		desiredNew, desiredStable = replicas, 0
	}
	maxAllowed := replicas + maxSurge
	others := c.otherRSs()
	total := newCount
	for _, rs := range others {
		total += rs.Desired
	}
	if scaleStable {
		total += stableRS.Desired
	}
	scaleUp := maxAllowed - total
	if scaleStable && stableRS.Desired < desiredStable && scaleUp > 0 {
		if stableRS.Desired+scaleUp < desiredStable {
			stableCount = stableRS.Desired + scaleUp
			scaleUp = 0
		} else {
			stableCount = desiredStable
			scaleUp -= desiredStable - stableRS.Desired
		}
	}
	if newRS != nil && newRS.Desired < desiredNew && scaleUp > 0 {
		newCount = min(newRS.Desired+scaleUp, desiredNew)
	}
	olderReplicas := 0
	for _, rs := range others {
		olderReplicas += rs.Desired
	}
	if olderReplicas > 0 {
		return newCount, stableCount
	}
	minAvailable := replicas - maxUnavailable
	increasing := newRS == nil || desiredNew >= newRS.Desired
	toScaleDown := c.replicasForScaleDown(newRS, !increasing) + c.replicasForScaleDown(stableRS, increasing)
	if !scaleStable {
		toScaleDown = c.replicasForScaleDown(newRS, !increasing)
	}
	if toScaleDown <= minAvailable {
		return newCount, stableCount
	}
	scaleDown := toScaleDown - minAvailable
	if !increasing {
		newCount = scaleDownCount(newRS, desiredNew, scaleDown, newCount)
		newCount, stableCount = c.withinLimits(newRS, stableRS, newCount, stableCount, maxAllowed, minAvailable)
	} else if scaleStable {
		stableCount = scaleDownCount(stableRS, desiredStable, scaleDown, stableCount)
		stableCount, newCount = c.withinLimits(stableRS, newRS, stableCount, newCount, maxAllowed, minAvailable)
	}
	return newCount, stableCount
}

// replicasForScaleDown counts replicas that may go: all of them when
// availability is ignored, else the available ones
// (AR utils/replicaset/canary.go GetReplicasForScaleDown).
func (c *Controller) replicasForScaleDown(rs *dataplane.ReplicaSet, ignoreAvailability bool) int {
	if rs == nil {
		return 0
	}
	if rs.Desired < c.available(rs) || ignoreAvailability {
		return rs.Desired
	}
	return c.available(rs)
}

// scaleDownCount (AR calculateScaleDownReplicaCount).
func scaleDownCount(drain *dataplane.ReplicaSet, desired, scaleDown, current int) int {
	if drain != nil && drain.Desired > desired {
		return max(desired, drain.Desired-scaleDown)
	}
	return current
}

// withinLimits keeps the pair within maxSurge and minAvailable
// (AR adjustReplicaWithinLimits).
func (c *Controller) withinLimits(drain, adjust *dataplane.ReplicaSet, drainCount, adjustCount, maxAllowed, minAvailable int) (int, int) {
	overLimit := max(0, adjustCount+drainCount-maxAllowed)
	available := 0
	if drain != nil {
		available += min(c.available(drain), drainCount)
	}
	if adjust == nil {
		return drainCount, adjustCount
	}
	adjustCount -= overLimit
	available += min(c.available(adjust), adjustCount)
	extraAvailable := max(0, c.available(adjust)-adjustCount)
	needed := max(0, minAvailable-available)
	adjustCount += min(extraAvailable, needed)
	overLimit = max(0, adjustCount+drainCount-maxAllowed)
	return drainCount - overLimit, adjustCount
}
