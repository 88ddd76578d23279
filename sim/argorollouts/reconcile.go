package argorollouts

import (
	"fmt"
	"time"

	api "github.com/canarylab/canarylab/controller/argorollouts"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/sim/dataplane"
)

// reconcile is one pass of the rollout controller over the Rollout, in the
// order of AR rollout/canary.go rolloutCanary. A pass that changes the
// status triggers another (the controller watches its own Rollout).
func (c *Controller) reconcile() {
	if c.down {
		c.pendingReconcile = true
		return
	}
	before := c.statusKey()
	c.statusWeight = c.canaryWeight
	c.checkPausedConditions()
	if c.abort && c.FullyPromoted() {
		// A fully promoted Rollout has nothing to abort: the controller
		// removes the abort and it stays Healthy at its revision (AR
		// rollout/controller.go:594-597, IsFullyPromoted).
		c.abort, c.abortMessage = false, ""
	}
	c.rolloutCanary()
	if len(c.pauseConditions) == 0 {
		// Persisting a status without pause conditions clears controllerPause
		// (AR rollout/pause.go calculatePauseStatus).
		c.controllerPause = false
	}
	c.updatePhase()
	c.checkSettled()
	if c.statusKey() != before {
		c.enqueue()
	}
}

// statusKey summarises the status fields whose update re-enqueues the Rollout.
// Of the Progressing condition only a timeout counts: a write of the
// condition alone re-enqueues a Rollout whose next pass finds nothing else
// to do, which the model leaves out.
func (c *Controller) statusKey() string {
	return fmt.Sprintf("%s|%s|%d|%v|%v|%v|%v|%d|%s|%v|%d", c.currentHash, c.stableHash, c.currentStepIndex,
		c.pauseOrder, c.controllerPause, c.abort, c.promoteFull, c.canaryWeight, c.phase, c.progressing == progressTimedOut, len(c.scaleDownAt))
}

func (c *Controller) rolloutCanary() {
	// A new pod template: a new revision and ReplicaSet, and the status is
	// reset (AR rollout/canary.go syncRolloutStatusCanary, resetRolloutStatus).
	if hash := podTemplateHash(c.image); hash != c.currentHash {
		c.startRevision(hash)
		return
	}

	c.reconcileServices()
	if c.routed() {
		c.reconcileTrafficRouting()
	} else {
		c.reconcileBasicWeight()
	}
	if c.reconcileAnalysisRuns() {
		// An inconclusive run added a pause: status only.
		c.syncStatus()
		return
	}
	if c.reconcileReplicaSets() {
		c.syncStatus()
		return
	}
	if c.reconcilePause() {
		c.syncStatus()
		return
	}
	c.syncStatus()
}

func (c *Controller) startRevision(hash string) {
	c.revision++
	c.currentHash = hash
	if c.world.ReplicaSet(hash) == nil {
		c.createReplicaSet(hash, c.image)
	}
	c.clearPauseConditions()
	c.controllerPause = false
	c.abort, c.abortedAt, c.abortMessage = false, nil, ""
	c.promoteFull = false
	c.currentStepIndex = 0
	c.stepStarted = -1
	delete(c.scaleDownAt, hash)
	c.Settled = false
	c.PromotedAt, c.AbortedAt, c.PausedAt = nil, nil, nil
	for _, run := range []*AnalysisRun{c.stepRun, c.backgroundRun} {
		if run != nil {
			run.Terminate()
		}
	}
	c.stepRun, c.backgroundRun = nil, nil
	if hash == c.stableHash && len(c.canary.Steps) > 0 {
		// "Rollback to stable ReplicaSets": steps are skipped.
		c.currentStepIndex = len(c.canary.Steps)
	}
}

// reconcileTrafficRouting sets the VirtualService weight
// (AR rollout/trafficrouting.go reconcileTrafficRouting:192-262).
func (c *Controller) reconcileTrafficRouting() {
	desired := 0
	newRS := c.newRS()
	steps := len(c.canary.Steps)
	canaryHash := c.currentHash
	switch {
	case c.rollingBackToStable():
		// The weight goes on naming the previous canary.
		desired, canaryHash = c.abortWeight(), c.weightsHash
	case c.FullyPromoted():
		desired = 0
	case c.abort:
		// Without dynamicStableScale the weight goes to 0 at once.
		desired = c.abortWeight()
	case newRS == nil || c.available(newRS) == 0:
		desired = 0
	case c.promoteFull:
		desired = c.canaryWeight
		if c.canary.DynamicStableScale {
			// As far as the canary's available pods go (trafficrouting.go:232-240).
			desired = c.maxWeight() * c.available(newRS) / c.m.Rollout.Replicas()
		}
	case steps > 0:
		if !c.atDesiredReplicaCounts() {
			// Keep the previous step's weight until the canary is scaled.
			for i := c.currentStepIndex - 1; i >= 0; i-- {
				if weight := c.canary.Steps[i].SetWeight; weight != nil {
					desired = *weight
					break
				}
			}
		} else if c.currentStepIndex != steps {
			desired = c.currentSetWeight()
		} else {
			desired = c.maxWeight()
		}
	}
	if !c.stableCanServe(c.maxWeight() - desired) {
		return
	}
	c.weightsHash = canaryHash
	c.writeWeights(desired)
}

// reconcileBasicWeight records the canary share of ready endpoints as the
// routed weight when there is no traffic router.
func (c *Controller) reconcileBasicWeight() {
	weight := c.world.CanaryWeight("")
	if weight != c.canaryWeight {
		c.canaryWeight = weight
		c.emit(result.Event{Type: result.WeightChanged, CanaryWeight: result.IntPtr(weight)})
	}
}

// reconcileAnalysisRuns creates, cancels and reacts to AnalysisRuns
// (AR rollout/analysis.go reconcileAnalysisRuns). It reports whether an
// inconclusive run added a pause.
func (c *Controller) reconcileAnalysisRuns() bool {
	if c.FullyPromoted() || c.abort || c.promoteFull {
		for _, run := range []*AnalysisRun{c.stepRun, c.backgroundRun} {
			if run != nil {
				run.Terminate()
			}
		}
		c.stepRun, c.backgroundRun = nil, nil
		return false
	}
	addedPause := false
	// Step analysis (reconcileStepBasedAnalysisRun).
	if len(c.pauseConditions) == 0 && !c.abort {
		step := c.currentStep()
		if step == nil || step.Analysis == nil {
			if c.stepRun != nil {
				c.stepRun.Terminate()
				c.stepRun = nil
			}
		} else if c.stepRun == nil || c.stepRun.stepIndex != c.currentStepIndex || c.needsNewRun(c.stepRun) {
			if c.stepRun != nil {
				c.stepRun.Terminate()
			}
			c.stepRun = c.createRun(step.Analysis, itoa(c.currentStepIndex))
			c.stepRun.stepIndex = c.currentStepIndex
		} else {
			addedPause = c.reactToRun(c.stepRun, "Step-based analysis phase error/failed") || addedPause
		}
	}
	// Background analysis (reconcileBackgroundAnalysisRun).
	if background := c.canary.Analysis; background != nil && len(background.Templates) > 0 {
		beforeStart := background.StartingStep != nil && c.currentStepIndex < *background.StartingStep
		switch {
		case beforeStart:
		case c.hasPause(pauseInconclusive):
		case c.backgroundRun == nil || c.needsNewRun(c.backgroundRun):
			c.backgroundRun = c.createRun(&background.RolloutAnalysis, "")
		default:
			addedPause = c.reactToRun(c.backgroundRun, "Background analysis phase error/failed") || addedPause
		}
	}
	return addedPause
}

// needsNewRun (AR rollout/analysis.go needsNewAnalysisRun).
func (c *Controller) needsNewRun(run *AnalysisRun) bool {
	if c.controllerPause && !c.hasPause(pauseCanaryStep) {
		return run.Phase == Inconclusive
	}
	return c.abortedAt != nil
}

func (c *Controller) hasPause(reason string) bool {
	_, ok := c.pauseConditions[reason]
	return ok
}

// reactToRun pauses on Inconclusive and aborts on Failed or Error.
func (c *Controller) reactToRun(run *AnalysisRun, prefix string) bool {
	switch run.Phase {
	case Inconclusive:
		if !c.hasPause(pauseInconclusive) {
			c.addPause(pauseInconclusive)
			return true
		}
	case Failed, ErrorPhase:
		message := prefix
		if run.Message != "" {
			message += ": " + run.Message
		}
		c.addAbort(message)
	}
	return false
}

func (c *Controller) addAbort(message string) {
	if c.abort && c.abortedAt != nil {
		return
	}
	c.abort = true
	c.abortMessage = message
}

// createRun builds an AnalysisRun from the referenced templates, named as
// the controller names them: <rollout>-<hash>-<revision>[-<step>].
func (c *Controller) createRun(analysis *api.RolloutAnalysis, step string) *AnalysisRun {
	name := fmt.Sprintf("%s-%s-%d", c.m.Rollout.Metadata.Name, c.currentHash, c.revision)
	if step != "" {
		name += "-" + step
	}
	if n := c.runNames[name]; n > 0 {
		c.runNames[name] = n + 1
		name = fmt.Sprintf("%s.%d", name, n)
	} else {
		c.runNames[name] = 1
	}
	metrics, err := c.resolveMetrics(analysis)
	if err != nil {
		// The controller cannot create the run: it aborts with the error.
		c.addAbort(err.Error())
		return &AnalysisRun{Name: name, Phase: ErrorPhase, Message: err.Error(), ctrl: c}
	}
	return c.startAnalysisRun(name, metrics)
}

// resolveMetrics merges the templates' metrics with resolved args
// (AR utils/analysis/factory.go NewAnalysisRunFromTemplates).
func (c *Controller) resolveMetrics(analysis *api.RolloutAnalysis) ([]*api.ResolvedMetric, error) {
	args := map[string]string{}
	var metrics []*api.ResolvedMetric
	dryRun := map[string]bool{}
	for _, entry := range analysis.DryRun {
		dryRun[entry.MetricName] = true
	}
	for _, ref := range analysis.Templates {
		template := c.m.Templates[ref.TemplateName]
		if ref.ClusterScope {
			template = c.m.Cluster[ref.TemplateName]
		}
		if template == nil {
			return nil, fmt.Errorf("AnalysisTemplate %s not found", ref.TemplateName)
		}
		for _, arg := range template.Spec.Args {
			if arg.Value != nil {
				args[arg.Name] = *arg.Value
			}
		}
		for _, entry := range template.Spec.DryRun {
			dryRun[entry.MetricName] = true
		}
	}
	for _, arg := range analysis.Args {
		switch {
		case arg.Value != nil:
			args[arg.Name] = *arg.Value
		case arg.ValueFrom != nil && arg.ValueFrom.PodTemplateHashValue != nil:
			if *arg.ValueFrom.PodTemplateHashValue == "Stable" {
				args[arg.Name] = c.stableHash
			} else {
				args[arg.Name] = c.currentHash
			}
		case arg.ValueFrom != nil && arg.ValueFrom.FieldRef != nil:
			switch arg.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				args[arg.Name] = c.m.Rollout.Metadata.Name
			case "metadata.namespace":
				args[arg.Name] = c.m.Namespace
			default:
				return nil, fmt.Errorf("arg %s: fieldRef %s is not modelled", arg.Name, arg.ValueFrom.FieldRef.FieldPath)
			}
		}
	}
	// A template arg from a Secret is read when the run measures, over any
	// value the Rollout passed (AR analysis/analysis.go:265-287).
	for _, ref := range analysis.Templates {
		template := c.m.Templates[ref.TemplateName]
		if ref.ClusterScope {
			template = c.m.Cluster[ref.TemplateName]
		}
		for _, arg := range template.Spec.Args {
			if arg.ValueFrom == nil || arg.ValueFrom.SecretKeyRef == nil {
				continue
			}
			value, err := c.m.SecretValue(*arg.ValueFrom.SecretKeyRef)
			if err != nil {
				return nil, fmt.Errorf("Unable to resolve metric arguments: %w", err)
			}
			args[arg.Name] = value
		}
	}
	for _, ref := range analysis.Templates {
		template := c.m.Templates[ref.TemplateName]
		if ref.ClusterScope {
			template = c.m.Cluster[ref.TemplateName]
		}
		for _, metric := range template.Spec.Metrics {
			spec, err := api.ResolveMetric(metric, args)
			if err != nil {
				return nil, err
			}
			for _, existing := range metrics {
				if existing.Name == spec.Name {
					return nil, fmt.Errorf("two metrics are named %s", spec.Name)
				}
			}
			spec.DryRun = dryRun[spec.Name]
			if stub, ok := c.m.Declared[spec.Name]; ok {
				spec.Declared = &stub
			}
			metrics = append(metrics, spec)
		}
	}
	return metrics, nil
}

// reconcileReplicaSets scales stable, canary and old ReplicaSets, and
// reports whether it scaled (AR rollout/canary.go reconcileCanaryReplicaSets).
func (c *Controller) reconcileReplicaSets() bool {
	if c.paused || c.hasPause(pauseInconclusive) {
		// haltProgress: spec.paused or an inconclusive analysis leaves the
		// ReplicaSets as they are (AR rollout/canary.go:419-422,
		// rollout/context.go:143-151).
		return false
	}
	// The stable follows the weights the previous reconcile wrote, the
	// canary those of this one (AR rollout/canary.go:115-127, replicaset.go:150-156).
	_, stable := c.desiredCounts(&c.statusWeight)
	canary, _ := c.desiredCounts(&c.canaryWeight)
	newRS, stableRS := c.newRS(), c.stableRS()
	if stableRS != nil && stableRS != newRS && stableRS.Desired != stable {
		c.world.Scale(stableRS, stable)
		return true
	}
	if newRS != nil {
		if c.delayScaleDownOnAbort() && newRS != stableRS {
			// Abort: keep the canary up until a deadline set once the stable
			// can take all traffic (AR rollout/replicaset.go:159-205). The
			// deadline is an RFC3339 annotation, so whole seconds.
			deadline, annotated := c.scaleDownAt[newRS.Hash]
			switch {
			case annotated && deadline > c.loop.Now():
				c.enqueueAt(deadline)
				return false
			case annotated:
				canary = 0
			default:
				if stableRS != nil && c.available(stableRS) >= c.m.Rollout.Replicas() {
					c.scaleDownAt[newRS.Hash] = (c.loop.Now() + *c.abortScaleDownDelay()).Truncate(time.Second)
					c.enqueueAt(c.scaleDownAt[newRS.Hash])
				}
				return false
			}
		} else if c.abort && c.routed() && c.abortScaleDownDelay() == nil {
			// abortScaleDownDelaySeconds: 0 leaves the canary up.
			return false
		}
		if newRS.Desired != canary {
			wasUp := newRS.Desired > 0
			c.world.Scale(newRS, canary)
			if canary == 0 && wasUp && newRS != stableRS {
				c.emit(result.Event{Type: result.CanaryScaledDown, Message: "ReplicaSet " + newRS.Name + " scaled to 0"})
			}
			return true
		}
	}
	return c.reconcileOtherReplicaSets()
}

// reconcileOtherReplicaSets scales down ReplicaSets that are neither stable
// nor current, without going below minAvailable (AR rollout/canary.go
// scaleDownOldReplicaSetsForCanary): the previous stable after promotion
// waits scaleDownDelaySeconds with traffic routing; an intermediate canary
// (a release replaced mid-rollout) goes at once; a basic canary's old pods
// go as availability allows.
func (c *Controller) reconcileOtherReplicaSets() bool {
	_, maxUnavailable := c.surgeAndUnavailable()
	available := 0
	for _, rs := range c.world.ReplicaSets() {
		available += c.available(rs)
	}
	maxScaleDown := available - (c.m.Rollout.Replicas() - maxUnavailable)
	if maxScaleDown <= 0 {
		return false
	}
	scaled := false
	others := c.otherRSs()
	for i := len(others) - 1; i >= 0 && maxScaleDown > 0; i-- { // newest revision first
		rs := others[i]
		if rs.Desired == 0 || (c.routed() && c.referenced(rs)) {
			continue
		}
		desired := 0
		if !c.routed() {
			desired = max(rs.Desired-maxScaleDown, 0)
		} else if _, annotated := c.scaleDownAt[rs.Hash]; (c.FullyPromoted() || annotated) && !c.canary.DynamicStableScale {
			if delay := c.scaleDownDelay(); delay > 0 {
				deadline, annotated := c.scaleDownAt[rs.Hash]
				if !annotated {
					// The deadline annotation is RFC3339: whole seconds.
					c.scaleDownAt[rs.Hash] = (c.loop.Now() + delay).Truncate(time.Second)
					c.enqueueAt(c.scaleDownAt[rs.Hash])
					continue
				}
				if deadline > c.loop.Now() {
					c.enqueueAt(deadline)
					continue
				}
			}
		}
		if rs.Desired == desired {
			continue
		}
		maxScaleDown -= rs.Desired - desired
		c.world.Scale(rs, desired)
		if desired == 0 {
			delete(c.scaleDownAt, rs.Hash)
			c.emit(result.Event{Type: result.CanaryScaledDown, Message: "ReplicaSet " + rs.Name + " scaled to 0"})
		}
		scaled = true
	}
	return scaled
}

// referenced: a Service still selects the ReplicaSet.
func (c *Controller) referenced(rs *dataplane.ReplicaSet) bool {
	for _, name := range []string{c.canary.CanaryService, c.canary.StableService} {
		if service := c.world.Service(name); service != nil && service.Selector == rs.Hash {
			return true
		}
	}
	return false
}

// reconcilePause adds the pause of a pause step and requeues at its expiry
// (AR rollout/canary.go reconcileCanaryPause, pause.go checkEnqueueRolloutDuringWait).
func (c *Controller) reconcilePause() bool {
	if c.paused || c.promoteFull {
		return false
	}
	step := c.currentStep()
	if step == nil || step.Pause == nil {
		return false
	}
	start, paused := c.pauseConditions[pauseCanaryStep]
	if !paused {
		if !c.controllerPause {
			c.addPause(pauseCanaryStep)
			c.emit(result.Event{Type: result.PauseStarted, Step: result.IntPtr(c.currentStepIndex), Message: step.String()})
			start = c.pauseConditions[pauseCanaryStep]
		} else {
			return true
		}
	}
	if d, timed, _ := step.Pause.DurationOf(); timed {
		// Expiry is strictly after start+duration: requeue just past it.
		c.enqueueAt(start + d + time.Millisecond)
	}
	return true
}

// completedCurrentStep (AR rollout/canary.go completedCurrentCanaryStep).
func (c *Controller) completedCurrentStep() bool {
	if c.paused {
		return false
	}
	step := c.currentStep()
	if step == nil {
		return false
	}
	switch {
	case step.Pause != nil:
		start, paused := c.pauseConditions[pauseCanaryStep]
		if d, timed, _ := step.Pause.DurationOf(); timed {
			return paused && c.loop.Now() > start+d
		}
		return c.controllerPause && !paused
	case step.SetCanaryScale != nil:
		return c.atDesiredReplicaCounts()
	case step.SetWeight != nil:
		return c.atDesiredReplicaCounts()
	case step.Analysis != nil:
		return c.stepRun != nil && c.stepRun.stepIndex == c.currentStepIndex && c.stepRun.Phase == Successful
	case step.SetHeaderRoute != nil, step.SetMirrorRoute != nil:
		return true
	}
	return false
}

// syncStatus advances steps, promotes and records aborts
// (AR rollout/canary.go syncRolloutStatusCanary; rollout/sync.go shouldFullPromote, promoteStable).
func (c *Controller) syncStatus() {
	steps := len(c.canary.Steps)
	if c.promoteFull {
		c.clearPauseConditions()
		c.abort = false
		if steps > 0 {
			c.currentStepIndex = steps
		}
	}
	if reason := c.shouldFullPromote(); reason != "" {
		c.promoteStable(reason)
		return
	}
	if c.abort {
		if c.abortedAt == nil {
			now := c.loop.Now()
			c.abortedAt = &now
			c.AbortedAt = &now
			message := fmt.Sprintf("Rollout aborted update to revision %d", c.revision)
			if c.abortMessage != "" {
				message += ": " + c.abortMessage
			}
			c.clearPauseConditions()
			c.controllerPause = false
			c.emit(result.Event{Type: result.RolloutAborted, Message: message})
		}
		if steps > 0 {
			if c.FullyPromoted() {
				c.currentStepIndex = steps
			} else {
				c.currentStepIndex = 0
			}
		}
		return
	}
	if c.abortedAt != nil {
		// Retried: the abort is cleared, the steps start over.
		c.abortedAt = nil
		c.AbortedAt = nil
		c.stepStarted = -1
	}
	c.emitStepStarted()
	if c.completedCurrentStep() {
		step := c.currentStep()
		c.currentStepIndex++
		if step.Pause != nil {
			c.emit(result.Event{Type: result.PauseEnded, Step: result.IntPtr(c.currentStepIndex - 1)})
		}
		c.emit(result.Event{Type: result.StepCompleted, Step: result.IntPtr(c.currentStepIndex - 1),
			Message: fmt.Sprintf("Rollout step %d/%d completed (%s)", c.currentStepIndex, steps, step.String())})
		c.removePause(pauseCanaryStep)
		c.emitStepStarted()
	}
}

func (c *Controller) emitStepStarted() {
	if step := c.currentStep(); step != nil && c.stepStarted != c.currentStepIndex && !c.FullyPromoted() {
		c.stepStarted = c.currentStepIndex
		c.emit(result.Event{Type: result.StepStarted, Step: result.IntPtr(c.currentStepIndex), Message: step.String()})
	}
}

// shouldFullPromote (AR rollout/sync.go:1000-1030).
func (c *Controller) shouldFullPromote() string {
	if c.abort {
		return ""
	}
	newRS := c.newRS()
	if newRS == nil || c.available(newRS) < c.m.Rollout.Replicas() {
		return ""
	}
	if c.FullyPromoted() {
		return ""
	}
	if c.promoteFull {
		return "Full promotion requested"
	}
	steps := len(c.canary.Steps)
	if steps == 0 || c.currentStepIndex == steps {
		return fmt.Sprintf("Completed all %d canary steps", steps)
	}
	return ""
}

// promoteStable makes the current ReplicaSet stable (AR rollout/sync.go promoteStable).
func (c *Controller) promoteStable(reason string) {
	c.clearPauseConditions()
	c.controllerPause = false
	c.abort = false
	c.promoteFull = false
	if steps := len(c.canary.Steps); steps > 0 {
		c.currentStepIndex = steps
	}
	c.stableHash = c.currentHash
	c.reconcileServices()
	c.emitAction(fmt.Sprintf("Rollout completed update to revision %d (%s): %s", c.revision, c.currentHash, reason))
}

func (c *Controller) emitAction(message string) {
	c.lastCompletion = message
}

// waitingForPerson says why a paused rollout needs a promote or abort: an
// indefinite pause step, an inconclusive analysis, or spec.paused. A timed
// pause ends by itself.
func (c *Controller) waitingForPerson() string {
	if c.paused {
		return "manually paused"
	}
	if c.hasPause(pauseInconclusive) {
		return pauseInconclusive + ": an inconclusive analysis waits for promote or abort"
	}
	if step := c.currentStep(); step != nil && step.Pause != nil && step.Pause.Duration == nil && c.hasPause(pauseCanaryStep) {
		return pauseCanaryStep + ": step " + itoa(c.currentStepIndex) + " is an indefinite pause; it waits for promote"
	}
	return ""
}

// updatePhase computes the Rollout's phase (AR utils/rollout/rolloututil.go
// CalculateRolloutPhase) and emits the outcome events when it changes.
func (c *Controller) updatePhase() {
	c.updateProgressing()
	phase := api.PhaseHealthy
	newRS := c.newRS()
	replicas := c.m.Rollout.Replicas()
	switch {
	case c.abortedAt != nil || c.progressing == progressTimedOut:
		phase = api.PhaseDegraded
	case c.paused || len(c.pauseConditions) > 0:
		phase = api.PhasePaused
	case newRS == nil || newRS.Replicas() < replicas || newRS.Desired < replicas:
		phase = api.PhaseProgressing
	case c.available(newRS) < newRS.Replicas():
		phase = api.PhaseProgressing
	case !c.routed() && c.olderReplicas() > 0:
		phase = api.PhaseProgressing
	case !c.FullyPromoted():
		phase = api.PhaseProgressing
	}
	if phase == c.phase {
		if reason := c.waitingForPerson(); phase == api.PhasePaused && c.PausedAt == nil && reason != "" {
			// Paused for a timed step, and now waiting for a person too
			// (an analysis that ended Inconclusive meanwhile).
			now := c.loop.Now()
			c.PausedAt = &now
			c.emit(result.Event{Type: result.RolloutPaused, Message: reason})
		}
		return
	}
	previous := c.phase
	c.phase = phase
	now := c.loop.Now()
	switch phase {
	case api.PhaseHealthy:
		if c.revision > 1 {
			c.PromotedAt = &now
			c.emit(result.Event{Type: result.RolloutPromoted, Image: c.image, Message: c.lastCompletion})
		}
	case api.PhasePaused:
		if reason := c.waitingForPerson(); reason != "" {
			c.PausedAt = &now
			c.emit(result.Event{Type: result.RolloutPaused, Message: reason})
		}
	case api.PhaseDegraded:
		if c.progressing == progressTimedOut {
			c.emit(result.Event{Type: result.RolloutDegraded, Message: "ProgressDeadlineExceeded: ReplicaSet \"" + newRS.Name + "\" has timed out progressing."})
		}
	}
	if previous == api.PhasePaused && phase != api.PhasePaused {
		c.PausedAt = nil
	}
}

func (c *Controller) olderReplicas() int {
	total := 0
	for _, rs := range c.world.ReplicaSets() {
		if rs.Hash != c.currentHash {
			total += rs.Replicas()
		}
	}
	return total
}

// checkSettled: a finished rollout has scaled its other ReplicaSets down.
func (c *Controller) checkSettled() {
	if !c.FullyPromoted() && c.abortedAt == nil {
		c.Settled = false
		return
	}
	for _, rs := range c.world.ReplicaSets() {
		keep := rs.Hash == c.stableHash
		if !keep && rs.Desired > 0 {
			c.Settled = false
			return
		}
	}
	c.Settled = true
}

// emitAnalysis records an AnalysisRun event.
func (c *Controller) emitAnalysis(run *AnalysisRun, eventType, metric, phase, value, message string) {
	c.emit(result.Event{Type: eventType, AnalysisRun: run.Name, Metric: metric, Phase: phase, Value: value, Message: message})
}
