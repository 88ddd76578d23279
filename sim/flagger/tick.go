package flagger

import (
	api "github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/sim/dataplane"
)

// advance is one run of the Canary's job: advanceCanary (FL
// pkg/controller/scheduler.go:158-505), in its order of checks.
func (c *Controller) advance() {
	if c.m.Canary.Spec.Suspend {
		return
	}
	if c.phase == "" || c.phase == api.PhaseInitializing {
		c.initialize()
		return
	}
	// shouldAdvance (scheduler.go:853-884): an active phase or a changed target.
	targetChanged := c.target.image != c.lastAppliedImage
	active := c.phase == api.PhaseProgressing || c.phase == api.PhaseWaiting || c.phase == api.PhaseWaitingPromotion ||
		c.phase == api.PhasePromoting || c.phase == api.PhaseFinalising
	if c.phase == api.PhaseFailed && !targetChanged {
		return
	}
	if !active && !targetChanged {
		return
	}
	skip := c.m.Canary.Spec.SkipAnalysis
	if !skip {
		if retriable, err := c.primary.ready(c.deadline, c.primaryThreshold); err != nil {
			if !retriable {
				if c.phase == api.PhasePromoting || c.phase == api.PhaseFinalising {
					c.failedPromotion(err.Error())
				} else {
					c.rollback("primary " + c.primaryName + " not ready: " + err.Error())
				}
			}
			return
		}
	}
	// checkCanaryStatus (scheduler.go:886-933): a new revision is detected,
	// the canary scaled up, and the tick ends.
	if !(c.phase == api.PhaseProgressing || c.phase == api.PhaseWaitingPromotion || c.phase == api.PhasePromoting || c.phase == api.PhaseFinalising) {
		if ok, failed := c.runHooks(hookConfirmRollout, c.phase); !ok {
			c.setPhase(api.PhaseWaiting, "Halt "+c.name()+" advancement waiting for approval "+failed)
			return
		}
		c.target.scale(c.targetReplicas) // ScaleFromZero (FL pkg/canary/deployment_controller.go:166-186)
		c.syncStatus(api.PhaseProgressing, "New revision detected! Scaling up "+c.target.name+"."+c.m.Namespace)
		return
	}
	// hasCanaryRevisionChanged (scheduler.go:935-948): restart the analysis.
	if (c.phase == api.PhaseProgressing || c.phase == api.PhaseWaitingPromotion) && targetChanged {
		c.setRoutes(100, 0, false, "New revision detected! Restarting analysis for "+c.target.name+"."+c.m.Namespace)
		c.syncStatus(api.PhaseProgressing, "New revision detected! Restarting analysis for "+c.target.name+"."+c.m.Namespace)
		return
	}
	if retriable, err := c.target.ready(c.deadline, c.canaryThreshold); err != nil {
		if !retriable {
			c.rollback("Rolling back " + c.name() + " progress deadline exceeded canary deployment " + c.target.name + "." + c.m.Namespace + " not ready: " + err.Error())
		}
		return
	}
	if skip {
		// shouldSkipAnalysis (scheduler.go:778-850): promote in one tick.
		c.setRoutes(100, 0, false, "")
		c.promote()
		c.target.scale(0)
		c.setPhase(api.PhaseSucceeded, "Promotion completed! Canary analysis was skipped for "+c.target.name+"."+c.m.Namespace)
		c.updateSettled()
		return
	}
	if c.phase == api.PhaseProgressing || c.phase == api.PhaseWaiting || c.phase == api.PhaseWaitingPromotion {
		if c.rollbackSignalled(c.phase) {
			c.rollback("Rolling back " + c.name() + " manual webhook invoked")
			return
		}
	}
	if c.phase == api.PhasePromoting {
		c.promotionTrafficShift()
		return
	}
	if c.phase == api.PhaseFinalising {
		c.target.scale(0)
		c.setPhase(api.PhaseSucceeded, "Promotion completed! Scaling down "+c.target.name+"."+c.m.Namespace)
		c.updateSettled()
		c.runHooks(hookPostRollout, api.PhaseSucceeded)
		return
	}
	// The threshold counts failed checks cumulatively (scheduler.go:430-440).
	if (c.phase == api.PhaseProgressing || c.phase == api.PhaseWaitingPromotion) && c.failedChecks >= c.threshold {
		c.rollback("Rolling back " + c.name() + " failed checks threshold reached " + itoa(c.failedChecks))
		return
	}
	mirrorOn := c.analysis.Mirror && c.mirrored
	if c.canaryWeight == 0 && c.iterations == 0 && !mirrorOn {
		// The first tick with the canary ready runs only the pre-rollout
		// hooks before the strategy (scheduler.go:447-459).
		if ok, failed := c.runHooks(hookPreRollout, api.PhaseProgressing); !ok {
			c.failCheck("Halt " + c.name() + " advancement pre-rollout check " + failed + " failed " + c.hookErr.Error())
			return
		}
	} else if ok, message := c.runAnalysis(); !ok {
		c.failCheck(message)
		return
	}
	switch c.strategy() {
	case api.StrategyAB:
		c.runAB()
		return
	case api.StrategyBlueGreen:
		c.runBlueGreen()
		return
	}
	if c.nextStepWeight(c.canaryWeight) > 0 {
		if !c.mirrored && c.phase != api.PhaseWaitingPromotion {
			if ok, _ := c.runHooks(hookConfirmTrafficIncrease, api.PhaseProgressing); !ok {
				return
			}
		}
		c.runCanary()
	}
}

// initialize is the first ticks of a new Canary: create the primary from
// the target, wait for it, then route to it and scale the target to zero
// (scheduler.go:197-296; measured: two ticks,
// docs/measurements.md#flagger-initialization).
func (c *Controller) initialize() {
	if c.primary == nil {
		c.phase = api.PhaseInitializing
		c.primary = newDeployment(c.primaryName, c.m.Target, c.loop, c.world, c.target.image, c.targetReplicas)
		c.world.SetWorkloadService(c.primaryHost, c.primaryName)
		c.world.SetWorkloadService(c.canaryHost, c.target.name)
		return // "observed deployment generation less than desired generation"
	}
	if _, err := c.primary.ready(c.deadline, c.primaryThreshold); err != nil {
		return
	}
	// The apex now selects the primary; routing takes over at 100/0.
	c.world.SetWorkloadService(c.apex, c.primaryName)
	c.target.scale(0)
	c.setRoutes(100, 0, false, "")
	c.lastAppliedImage = c.target.image
	c.setPhase(api.PhaseInitialized, "Initialization done! "+c.name())
}

// syncStatus resets the status for a new revision (FL pkg/canary/status.go
// SyncStatus: failedChecks, iterations and weight reset, lastAppliedSpec set).
func (c *Controller) syncStatus(phase, message string) {
	c.failedChecks, c.iterations, c.statusWeight = 0, 0, 0
	c.lastAppliedImage = c.target.image
	c.Settled = false
	// A restart in Progressing leaves the phase as it is: no phase change
	// is observable (the local backend's observer confirmed it).
	c.setPhase(phase, message)
}

func (c *Controller) failCheck(message string) {
	c.failedChecks++
	failed := c.failedChecks
	c.emit(result.Event{Type: result.CheckFailed, Message: message, Value: itoa(failed) + "/" + itoa(c.threshold)})
}

// rollback (scheduler.go:948-1002): all traffic to the primary, the canary
// scaled to zero, phase Failed with failedChecks reset.
func (c *Controller) rollback(reason string) {
	c.setRoutes(100, 0, false, reason)
	c.target.scale(0)
	c.failedChecks, c.statusWeight = 0, 0
	c.setPhase(api.PhaseFailed, "Canary failed! Scaling down "+c.target.name+"."+c.m.Namespace)
	c.updateSettled()
	c.runHooks(hookPostRollout, api.PhaseFailed)
}

// failedPromotion (scheduler.go:1004-1035): the primary broke while being
// promoted; traffic goes back to the canary.
func (c *Controller) failedPromotion(reason string) {
	c.setRoutes(0, 100, false, "")
	c.statusWeight = 100
	c.setPhase(api.PhaseFailed, "Promotion of "+c.target.name+"."+c.m.Namespace+" failed, primary not ready: "+reason)
	c.runHooks(hookPostRollout, api.PhaseFailed)
}

// promote copies the target's spec to the primary (FL
// pkg/canary/deployment_controller.go Promote): its rolling update starts.
func (c *Controller) promote() {
	c.primary.setImage(c.target.image)
}

// promotionTrafficShift (scheduler.go:508-563).
func (c *Controller) promotionTrafficShift() {
	step := c.analysis.StepWeightPromotion
	if step == 0 {
		c.setRoutes(100, 0, false, "Routing all traffic to primary")
		c.setPhase(api.PhaseFinalising, "Routing all traffic to primary")
		return
	}
	if c.canaryWeight > 0 {
		primaryWeight := min(100, c.primaryWeight+step)
		canaryWeight := max(0, c.canaryWeight-step)
		c.setRoutes(primaryWeight, canaryWeight, false, "Advance "+c.name()+" primary weight "+itoa(primaryWeight))
		if primaryWeight == 100 {
			c.setPhase(api.PhaseFinalising, "")
		} else {
			c.statusWeight = canaryWeight
		}
	}
}

// runCanary (scheduler.go:565-637).
func (c *Controller) runCanary() {
	maxWeight := c.maxWeight()
	if c.canaryWeight < maxWeight {
		next := c.nextStepWeight(c.canaryWeight)
		primaryWeight, canaryWeight, mirrored := c.primaryWeight, c.canaryWeight, c.mirrored
		if c.analysis.Mirror && c.canaryWeight == 0 {
			if !mirrored {
				mirrored, primaryWeight, canaryWeight = true, 100, 0
			} else {
				mirrored, primaryWeight, canaryWeight = false, 100-next, next
			}
		} else {
			primaryWeight = max(0, primaryWeight-next)
			canaryWeight = min(100, canaryWeight+next)
		}
		c.setRoutes(primaryWeight, canaryWeight, mirrored, "Advance "+c.name()+" canary weight "+itoa(canaryWeight))
		c.statusWeight = canaryWeight
		return
	}
	if !c.confirmPromotion() {
		return
	}
	c.promote()
	c.setPhase(api.PhasePromoting, "Copying "+c.target.name+"."+c.m.Namespace+" template spec to "+c.primaryName+"."+c.m.Namespace)
}

// confirmPromotion runs the confirm-promotion hooks (FL
// pkg/controller/scheduler_hooks.go:67-93): closed sets WaitingPromotion
// once; in WaitingPromotion a blue/green run steps its iterations back.
func (c *Controller) confirmPromotion() bool {
	ok, failed := c.runHooks(hookConfirmPromotion, api.PhaseProgressing)
	if ok {
		return true
	}
	if c.phase != api.PhaseWaitingPromotion {
		c.setPhase(api.PhaseWaitingPromotion, "Halt "+c.name()+" advancement waiting for promotion approval "+failed)
		// setStatusPhase zeroes canaryWeight and iterations in the status
		// (docs/measurements.md#flagger-status-fields); the routes keep their weights.
		c.statusWeight = 0
	} else if c.analysis.Iterations != nil {
		c.iterations = *c.analysis.Iterations - 1
	}
	return false
}

// runAB (scheduler.go:639-680).
func (c *Controller) runAB() {
	iterations := *c.analysis.Iterations
	if iterations > c.iterations {
		c.setRoutes(0, 100, false, "")
		c.iterations++
		return
	}
	if !c.confirmPromotion() {
		return
	}
	if iterations == c.iterations {
		c.promote()
		c.setPhase(api.PhasePromoting, "Copying "+c.target.name+"."+c.m.Namespace+" template spec to "+c.primaryName+"."+c.m.Namespace)
	}
}

// runBlueGreen (scheduler.go:682-750).
func (c *Controller) runBlueGreen() {
	iterations := *c.analysis.Iterations
	if iterations > c.iterations {
		if c.analysis.Mirror && !c.mirrored {
			c.setRoutes(100, 0, true, "Start traffic mirroring")
		}
		c.iterations++
		return
	}
	if !c.confirmPromotion() {
		return
	}
	if iterations == c.iterations {
		c.setRoutes(0, 100, false, "Routing all traffic to canary")
		c.iterations++
		return
	}
	if iterations < c.iterations {
		c.promote()
		c.setPhase(api.PhasePromoting, "Copying "+c.target.name+"."+c.m.Namespace+" template spec to "+c.primaryName+"."+c.m.Namespace)
	}
}

// setRoutes is the mesh router's SetRoutes: Istio's VirtualService (FL
// pkg/router/istio.go:469-575) or Linkerd's TrafficSplit (FL
// pkg/router/smi.go:159-191, which has neither mirroring nor matching).
func (c *Controller) setRoutes(primaryWeight, canaryWeight int, mirrored bool, message string) {
	if c.mesh == api.MeshLinkerd {
		mirrored = false
	}
	routes := []dataplane.Route{{Host: c.primaryHost, Weight: primaryWeight}, {Host: c.canaryHost, Weight: canaryWeight}}
	var rules []dataplane.HTTPRoute
	switch {
	case c.mesh == api.MeshIstio && len(c.analysis.Match) > 0:
		// A/B: the analysis match routes by weight, the rest to the primary.
		rules = []dataplane.HTTPRoute{
			{Match: headerMatches(c.analysis.Match), Routes: routes},
			{Routes: []dataplane.Route{{Host: c.primaryHost, Weight: 100}}},
		}
	default:
		rule := dataplane.HTTPRoute{Routes: routes}
		if mirrored {
			rule.Mirror = c.canaryHost
			rule.MirrorPercent = 100
			if c.analysis.MirrorWeight > 0 {
				rule.MirrorPercent = float64(c.analysis.MirrorWeight)
			}
		}
		rules = []dataplane.HTTPRoute{rule}
	}
	c.world.SetHTTPRoutes(rules)
	changed := canaryWeight != c.canaryWeight
	c.primaryWeight, c.canaryWeight, c.mirrored = primaryWeight, canaryWeight, mirrored
	if changed {
		weight := canaryWeight
		c.emit(result.Event{Type: result.WeightChanged, CanaryWeight: &weight, Message: message})
	}
}

func headerMatches(requests []api.MatchRequest) [][]dataplane.HeaderMatch {
	var out [][]dataplane.HeaderMatch
	for _, request := range requests {
		var all []dataplane.HeaderMatch
		for name, match := range request.Headers {
			all = append(all, dataplane.HeaderMatch{Name: name, Exact: match.Exact, Prefix: match.Prefix, Regex: match.Regex})
		}
		sortMatches(all)
		out = append(out, all)
	}
	return out
}

// updateSettled: a finished canary is settled once its pods are gone.
func (c *Controller) updateSettled() {
	finished := c.phase == api.PhaseSucceeded || c.phase == api.PhaseFailed
	if !finished || c.Settled {
		return
	}
	if c.target.replicas == 0 && c.target.pods() == 0 {
		c.Settled = true
		c.emit(result.Event{Type: result.CanaryScaledDown, Message: "canary Deployment " + c.target.name + " scaled to 0"})
	}
}
