package argorollouts

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"

	api "github.com/canarylab/canarylab/controller/argorollouts"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/sim/dataplane"
	"github.com/canarylab/canarylab/sim/vclock"
)

// Config tunes the controller model's timing.
type Config struct {
	// ReconcileLatency is from a watched change (a status update, a pod
	// turning ready, an AnalysisRun phase change) to the reconcile that
	// reacts to it: informer delivery plus work-queue hand-off.
	ReconcileLatency time.Duration
	// AnalysisLatency is from an AnalysisRun's creation to its first
	// reconcile by the analysis controller.
	AnalysisLatency time.Duration
}

// DefaultConfig matches the real controller v1.10.2 as measured by the local
// backend's conformance runs: from an AnalysisRun's failure to the abort
// 13-25 ms, from the abort to the weights written 10-26 ms, from the
// release to the first step ~60 ms (two reconciles).
func DefaultConfig() Config {
	return Config{ReconcileLatency: 25 * time.Millisecond, AnalysisLatency: 20 * time.Millisecond}
}

// Pause reasons (AR pkg/apis/rollouts/v1alpha1/types.go PauseReason).
const (
	pauseCanaryStep   = "CanaryPauseStep"
	pauseInconclusive = "InconclusiveAnalysisRun"
)

// Emitter records a timeline event at the current virtual time.
type Emitter func(result.Event)

// Controller models the Argo Rollouts controller for one canary Rollout.
type Controller struct {
	cfg     Config
	loop    *vclock.Loop
	world   *dataplane.World
	metrics MetricsProvider
	emit    Emitter
	m       *api.Manifests
	canary  *api.Canary

	// Rollout spec that changes at run time.
	image  string
	paused bool

	// Rollout status.
	revision         int
	currentHash      string
	stableHash       string
	currentStepIndex int
	pauseConditions  map[string]time.Duration
	pauseOrder       []string
	controllerPause  bool
	abort            bool
	abortedAt        *time.Duration
	abortMessage     string
	promoteFull      bool
	canaryWeight     int // the VirtualService weight last written
	// status.canary.weights as the reconcile found it (the weight written
	// by the previous one) and the canary pod-template hash it names.
	statusWeight int
	weightsHash  string
	phase        string
	// The Progressing condition: its reason and lastUpdateTime, and the
	// status it was last computed on (progress.go).
	progressing     string
	progressUpdated time.Duration
	observed        rolloutCounts
	healthy         bool

	stepRun, backgroundRun *AnalysisRun
	runNames               map[string]int
	scaleDownAt            map[string]time.Duration // by ReplicaSet hash
	stepStarted            int                      // step index whose StepStarted was emitted, -1 none

	// controller-restart fault.
	down             bool
	pendingReconcile bool
	pendingRuns      map[*AnalysisRun]bool

	lastCompletion string

	timer *vclock.Timer
	// Settled is true once a finished rollout has scaled down its old pods.
	Settled bool
	// Outcome bookkeeping for the runner.
	PromotedAt, AbortedAt, PausedAt *time.Duration
}

// New builds the controller for the manifests; the stable image is deployed
// and fully promoted before the run starts (an initial deploy skips steps,
// AR rollout/sync.go shouldFullPromote "Initial deploy").
func New(loop *vclock.Loop, world *dataplane.World, m *api.Manifests, metrics MetricsProvider, emit Emitter, cfg Config, stableImage string) *Controller {
	c := &Controller{
		cfg: cfg, loop: loop, world: world, metrics: metrics, emit: emit, m: m,
		canary:          m.Rollout.Spec.Strategy.Canary,
		paused:          m.Rollout.Spec.Paused,
		pauseConditions: map[string]time.Duration{},
		runNames:        map[string]int{},
		scaleDownAt:     map[string]time.Duration{},
		pendingRuns:     map[*AnalysisRun]bool{},
		stepStarted:     -1,
	}
	c.image = stableImage
	c.revision = 1
	c.currentHash = podTemplateHash(stableImage)
	c.stableHash = c.currentHash
	c.weightsHash = c.currentHash
	c.currentStepIndex = len(c.canary.Steps)
	rs := c.createReplicaSet(c.currentHash, stableImage)
	world.Scale(rs, m.Rollout.Replicas())
	c.reconcileServices()
	if c.routed() {
		c.writeWeights(0)
	} else {
		world.SetEntry(c.entryService())
	}
	c.phase = api.PhaseHealthy
	c.progressing, c.observed, c.healthy = progressAvailable, c.counts(), true
	world.OnPodsChanged = c.enqueue
	return c
}

// createReplicaSet makes the ReplicaSet of a revision, with the Rollout's
// minReadySeconds.
func (c *Controller) createReplicaSet(hash, image string) *dataplane.ReplicaSet {
	rs := c.world.CreateReplicaSet(hash, image)
	rs.MinReadySeconds = time.Duration(c.m.Rollout.Spec.MinReadySeconds) * time.Second
	return rs
}

// podTemplateHash stands in for the controller's hash of the pod template:
// stable per image, so releasing the stable image again is a rollback to it.
func podTemplateHash(image string) string {
	h := fnv.New32a()
	h.Write([]byte(image))
	return fmt.Sprintf("%08x", h.Sum32())[:8]
}

func (c *Controller) routed() bool {
	return c.canary.TrafficRouting != nil && c.canary.TrafficRouting.Istio != nil
}

// entryService is where users' traffic enters without traffic routing.
func (c *Controller) entryService() string { return c.m.EntryService() }

func (c *Controller) maxWeight() int {
	if c.canary.TrafficRouting != nil && c.canary.TrafficRouting.MaxTrafficWeight != nil {
		return *c.canary.TrafficRouting.MaxTrafficWeight
	}
	return 100
}

// Phase is the Rollout's phase.
func (c *Controller) Phase() string { return c.phase }

// Aborted reports status.abort.
func (c *Controller) Aborted() bool { return c.abort }

// Paused reports whether the rollout waits for a person.
func (c *Controller) Paused() bool { return c.phase == api.PhasePaused }

// FullyPromoted reports stable == current.
func (c *Controller) FullyPromoted() bool { return c.stableHash == c.currentHash }

// CanaryHost is the host the canary weight is written to.
func (c *Controller) CanaryHost() string { return c.canary.CanaryService }

// enqueue asks for a reconcile after the reconcile latency (deduplicated,
// as the work queue does).
func (c *Controller) enqueue() { c.enqueueAt(c.loop.Now() + c.cfg.ReconcileLatency) }

func (c *Controller) enqueueAt(at time.Duration) {
	if c.timer != nil && c.timer.Active() && c.timer.At() <= at {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = c.loop.At(at, c.reconcile)
}

// Release sets a new image in the Rollout's pod template.
func (c *Controller) Release(image string) {
	c.image = image
	c.enqueue()
}

// Promote applies what `kubectl argo rollouts promote` patches
// (AR pkg/kubectl-argo-rollouts/cmd/promote/promote.go getPatches).
func (c *Controller) Promote() {
	c.paused = false
	steps := len(c.canary.Steps)
	_, inconclusive := c.pauseConditions[pauseInconclusive]
	switch {
	case inconclusive && c.controllerPause:
		if c.currentStepIndex < steps {
			c.currentStepIndex++
		}
		c.clearPauseConditions()
		c.controllerPause = false
	case len(c.pauseConditions) > 0:
		c.clearPauseConditions()
	default:
		if c.currentStepIndex < steps {
			c.currentStepIndex++
		}
		c.clearPauseConditions()
	}
	c.enqueue()
}

// PromoteFull applies `promote --full`: status.promoteFull=true.
func (c *Controller) PromoteFull() {
	c.paused = false
	if c.currentHash != c.stableHash {
		c.promoteFull = true
	}
	c.enqueue()
}

// Abort applies `kubectl argo rollouts abort`: status.abort=true.
func (c *Controller) Abort() {
	if !c.abort {
		c.abort = true
		c.abortMessage = ""
	}
	c.enqueue()
}

// Retry applies `kubectl argo rollouts retry`: status.abort=false.
func (c *Controller) Retry() {
	c.abort = false
	c.enqueue()
}

// SetDown stops (true) or restarts (false) the controller process. On
// restart the informers list every object and every Rollout is reconciled.
func (c *Controller) SetDown(down bool) {
	c.down = down
	if down {
		return
	}
	c.enqueue()
	for run := range c.pendingRuns {
		run.requeue(c.loop.Now() + c.cfg.AnalysisLatency)
	}
	c.pendingRuns = map[*AnalysisRun]bool{}
	for _, run := range []*AnalysisRun{c.stepRun, c.backgroundRun} {
		if run != nil && !run.Phase.Completed() {
			run.requeue(c.loop.Now() + c.cfg.AnalysisLatency)
		}
	}
}

// RevertWeights is a GitOps agent re-applying the VirtualService from Git:
// the weights go back to the manifest's until the controller writes them again.
func (c *Controller) RevertWeights() {
	if !c.routed() {
		return
	}
	before := c.world.CanaryWeight(c.canaryKey())
	c.world.SetRoutes(c.manifestRoutes())
	if after := c.world.CanaryWeight(c.canaryKey()); after != before {
		c.emit(result.Event{Type: result.WeightChanged, CanaryWeight: result.IntPtr(after), Message: "VirtualService re-applied from Git"})
	}
	// The controller watches VirtualServices and reconciles the Rollouts
	// that reference them (AR rollout/trafficrouting/istio/controller.go:87-97).
	c.enqueue()
}

func (c *Controller) clearPauseConditions() {
	c.pauseConditions = map[string]time.Duration{}
	c.pauseOrder = nil
}

func (c *Controller) addPause(reason string) {
	if _, ok := c.pauseConditions[reason]; ok {
		return
	}
	// metav1.Time persists whole seconds (RFC3339), so pause expiry is
	// quantised to 1s (AR rollout/pause.go,
	// docs/measurements.md#argo-rollouts-pause-expiry).
	c.pauseConditions[reason] = c.loop.Now().Truncate(time.Second)
	c.pauseOrder = append(c.pauseOrder, reason)
	c.controllerPause = true
}

func (c *Controller) removePause(reason string) {
	if _, ok := c.pauseConditions[reason]; !ok {
		return
	}
	delete(c.pauseConditions, reason)
	for i, r := range c.pauseOrder {
		if r == reason {
			c.pauseOrder = append(c.pauseOrder[:i], c.pauseOrder[i+1:]...)
			break
		}
	}
}

// currentStep is the step at currentStepIndex, or nil past the last.
func (c *Controller) currentStep() *api.Step {
	if c.currentStepIndex < len(c.canary.Steps) {
		return &c.canary.Steps[c.currentStepIndex]
	}
	return nil
}

// currentSetWeight (AR utils/replicaset/canary.go GetCurrentSetWeight).
func (c *Controller) currentSetWeight() int {
	if c.abort {
		return 0
	}
	if c.currentStep() == nil {
		return c.maxWeight()
	}
	for i := c.currentStepIndex; i >= 0; i-- {
		if weight := c.canary.Steps[i].SetWeight; weight != nil {
			return *weight
		}
	}
	return 0
}

// useSetCanaryScale (AR utils/replicaset/canary.go UseSetCanaryScale).
func (c *Controller) useSetCanaryScale() *api.SetCanaryScale {
	if !c.routed() {
		return nil
	}
	if c.abort {
		if delay := c.abortScaleDownDelay(); delay != nil {
			return nil
		}
	}
	if c.currentStep() == nil {
		return nil
	}
	for i := c.currentStepIndex; i >= 0; i-- {
		scale := c.canary.Steps[i].SetCanaryScale
		if scale == nil {
			continue
		}
		if scale.MatchTrafficWeight {
			return nil
		}
		return scale
	}
	return nil
}

// abortScaleDownDelay: default 30s with traffic routing, 0 means never
// scale down, nil (no delay) without traffic routing
// (AR utils/defaults/defaults.go GetAbortScaleDownDelaySecondsOrDefault).
func (c *Controller) abortScaleDownDelay() *time.Duration {
	if !c.routed() {
		return nil
	}
	seconds := 30
	if c.canary.AbortScaleDownDelaySeconds != nil {
		seconds = *c.canary.AbortScaleDownDelaySeconds
	}
	if seconds == 0 {
		return nil
	}
	delay := time.Duration(seconds) * time.Second
	return &delay
}

// scaleDownDelay after promotion: 30s with traffic routing, 0 for a basic
// canary (GetScaleDownDelaySecondsOrDefault).
func (c *Controller) scaleDownDelay() time.Duration {
	if !c.routed() {
		return 0
	}
	if c.canary.ScaleDownDelaySeconds != nil {
		return time.Duration(*c.canary.ScaleDownDelaySeconds) * time.Second
	}
	return 30 * time.Second
}

// desiredCounts is (canary, stable) replicas
// (CalculateReplicaCountsForTrafficRoutedCanary / ...ForBasicCanary).
// weights is the canary weight of status.canary.weights the counts may
// take into account, nil for none; only dynamicStableScale does.
func (c *Controller) desiredCounts(weights *int) (int, int) {
	replicas := c.m.Rollout.Replicas()
	maxWeight := c.maxWeight()
	weight := 0
	var fixed *int
	switch {
	case c.promoteFull || c.stableHash == "" || c.currentHash == c.stableHash:
		weight = maxWeight
	default:
		if scale := c.useSetCanaryScale(); scale != nil {
			if scale.Replicas != nil {
				fixed = scale.Replicas
			} else if scale.Weight != nil {
				weight = *scale.Weight
			}
		} else {
			weight = c.desiredCanaryWeight()
		}
	}
	if !c.routed() {
		return c.basicCanaryCounts(weight)
	}
	canary := weightToReplicas(replicas, weight, maxWeight)
	if fixed != nil {
		canary = *fixed
	}
	if !c.canary.DynamicStableScale {
		return canary, replicas
	}
	return c.dynamicCounts(canary, weight, weights)
}

// weightToReplicas rounds up (AR utils/replicaset/canary.go:423-425 trafficWeightToReplicas).
func weightToReplicas(replicas, weight, maxWeight int) int {
	return int(math.Ceil(float64(weight) * float64(replicas) / float64(maxWeight)))
}

// routes of the VirtualService as the manifest wrote them.
func (c *Controller) manifestRoutes() []dataplane.Route {
	var routes []dataplane.Route
	for _, vs := range c.virtualServices() {
		for _, http := range vs.Spec.HTTP {
			for _, destination := range http.Route {
				route := dataplane.Route{Host: c.routeKey(destination.Destination.Host, destination.Destination.Subset), Weight: destination.Weight}
				if route.Host != destination.Destination.Host {
					// A subset: telemetry names the route's host.
					route.Service, _, _ = strings.Cut(destination.Destination.Host, ".")
				}
				routes = append(routes, route)
			}
			return routes // the sim routes users through the first managed route
		}
	}
	return routes
}

func (c *Controller) virtualServices() []*api.VirtualService {
	istio := c.canary.TrafficRouting.Istio
	var refs []api.VirtualServiceRef
	if istio.VirtualService != nil {
		refs = append(refs, *istio.VirtualService)
	}
	refs = append(refs, istio.VirtualServices...)
	var out []*api.VirtualService
	for _, ref := range refs {
		if vs := c.m.VirtualServices[ref.Name]; vs != nil {
			out = append(out, vs)
		}
	}
	return out
}

// routeKey names a route destination: the Service host, or with subset
// routing (a DestinationRule) the subset, which resolves like a Service
// whose selector the controller sets.
func (c *Controller) routeKey(host, subset string) string {
	if c.canary.TrafficRouting.Istio.DestinationRule != nil && subset != "" {
		return subset
	}
	return host
}

func (c *Controller) canaryKey() string {
	if dr := c.canary.TrafficRouting.Istio.DestinationRule; dr != nil {
		return dr.CanarySubsetName
	}
	return c.canary.CanaryService
}

func (c *Controller) stableKey() string {
	if dr := c.canary.TrafficRouting.Istio.DestinationRule; dr != nil {
		return dr.StableSubsetName
	}
	return c.canary.StableService
}

// writeWeights sets the canary weight on the managed route.
func (c *Controller) writeWeights(weight int) {
	routes := c.manifestRoutes()
	for i := range routes {
		switch routes[i].Host {
		case c.canaryKey():
			routes[i].Weight = weight
		case c.stableKey():
			routes[i].Weight = c.maxWeight() - weight
		}
	}
	previous := c.world.CanaryWeight(c.canaryKey())
	if weight == previous && weight == c.canaryWeight && len(c.world.Routes()) > 0 {
		return
	}
	c.world.SetRoutes(routes)
	if weight != c.canaryWeight || weight != previous {
		c.canaryWeight = weight
		c.emit(result.Event{Type: result.WeightChanged, CanaryWeight: result.IntPtr(weight)})
	}
}

// reconcileServices points the canary and stable Services (and subsets) at
// their ReplicaSets (AR rollout/service.go reconcileStableAndCanaryService;
// on abort the canary Service goes back to stable, trafficrouting.go).
func (c *Controller) reconcileServices() {
	canaryHash := c.currentHash
	if c.abort && (!c.canary.DynamicStableScale || c.abortWeight() == 0) {
		// With dynamicStableScale the canary Service keeps the canary
		// until the abort's weight is 0 (AR rollout/trafficrouting.go:204-215).
		canaryHash = c.stableHash
	}
	if c.rollingBackToStable() {
		// The canary Service and subset stay on the previous canary
		// (AR rollout/service.go:272-282).
		canaryHash = c.weightsHash
	}
	if c.canary.StableService != "" {
		c.world.SetService(c.canary.StableService, c.stableHash)
	}
	if c.canary.CanaryService != "" {
		c.world.SetService(c.canary.CanaryService, canaryHash)
	}
	if c.routed() && c.canary.TrafficRouting.Istio.DestinationRule != nil {
		c.world.SetService(c.stableKey(), c.stableHash)
		c.world.SetService(c.canaryKey(), canaryHash)
	}
	if !c.routed() {
		entry := c.entryService()
		if entry != c.canary.StableService && entry != c.canary.CanaryService {
			c.world.SetService(entry, "")
		}
	}
}

func (c *Controller) newRS() *dataplane.ReplicaSet    { return c.world.ReplicaSet(c.currentHash) }
func (c *Controller) stableRS() *dataplane.ReplicaSet { return c.world.ReplicaSet(c.stableHash) }

// otherRSs are ReplicaSets that are neither stable nor current.
func (c *Controller) otherRSs() []*dataplane.ReplicaSet {
	var others []*dataplane.ReplicaSet
	for _, rs := range c.world.ReplicaSets() {
		if rs.Hash != c.currentHash && rs.Hash != c.stableHash {
			others = append(others, rs)
		}
	}
	return others
}

// atDesiredReplicaCounts (AR utils/replicaset/canary.go AtDesiredReplicaCountsForCanary).
func (c *Controller) atDesiredReplicaCounts() bool {
	canary, stable := c.desiredCounts(nil)
	newRS := c.newRS()
	if newRS == nil || newRS.Desired != canary || c.available(newRS) != canary {
		return false
	}
	if !c.routed() || !c.canary.DynamicStableScale {
		if stableRS := c.stableRS(); stableRS == nil || stableRS.Desired != stable || stableRS.Replicas() != stable {
			return false
		}
	}
	if !c.routed() {
		for _, rs := range c.otherRSs() {
			if c.available(rs) != 0 {
				return false
			}
		}
	}
	return true
}

func itoa(n int) string { return strconv.Itoa(n) }

// RoutedCanaryWeight is the share of traffic the router sends to the canary:
// the VirtualService weight, or without traffic routing the canary's share
// of ready endpoints.
func (c *Controller) RoutedCanaryWeight() int {
	if c.routed() {
		return c.world.CanaryWeight(c.canaryKey())
	}
	return c.world.CanaryWeight("")
}

// Step is the current step index and the number of steps.
func (c *Controller) Step() (int, int) { return c.currentStepIndex, len(c.canary.Steps) }

// Image is the image of the Rollout's pod template.
func (c *Controller) Image() string { return c.image }

// available is a ReplicaSet's available replicas: ready for at least the
// Rollout's minReadySeconds.
func (c *Controller) available(rs *dataplane.ReplicaSet) int {
	if rs == nil {
		return 0
	}
	return rs.AvailableReplicas(c.loop.Now())
}
