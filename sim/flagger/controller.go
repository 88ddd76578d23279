package flagger

import (
	"context"
	api "github.com/canarylab/canarylab/controller/flagger"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/sim/dataplane"
	"github.com/canarylab/canarylab/sim/vclock"
)

// MetricsProvider answers a Prometheus instant query at the current virtual time.
type MetricsProvider func(ctx context.Context, query string) (model.Value, error)

// Emitter records a timeline event at the current virtual time.
type Emitter func(result.Event)

// Webhooks answers Flagger's webhook calls: status code and body, or a
// transport error.
type Webhooks func(hook api.Webhook, payload Payload) (int, string, error)

// Payload is the JSON body Flagger posts to a webhook (FL
// pkg/apis/flagger/v1beta1/canary.go:464-481 CanaryWebhookPayload).
type Payload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// Config tunes the model's timing.
type Config struct {
	// ControlLoopInterval is -control-loop-interval (FL cmd/flagger/main.go:99).
	ControlLoopInterval time.Duration
	// TickLatency is from a tick to its writes (routes, status, events);
	// measured 0.02-0.7 s on the real controller
	// (docs/measurements.md#flagger-ticks-and-timing).
	TickLatency time.Duration
	// StartupDelay is from a (re)start of the process to its workers.
	StartupDelay time.Duration
	// MeshProvider is -mesh-provider: the mesh of a Canary that names no
	// provider (the scenario's spec.meshProvider).
	MeshProvider string
}

// DefaultConfig is the real controller's defaults and measured latencies.
func DefaultConfig() Config {
	return Config{ControlLoopInterval: 10 * time.Second, TickLatency: 100 * time.Millisecond, StartupDelay: time.Second}
}

// Controller models Flagger for one Canary with a Deployment target.
type Controller struct {
	cfg      Config
	loop     *vclock.Loop
	world    *dataplane.World
	metrics  MetricsProvider
	webhooks Webhooks
	emit     Emitter
	m        *api.Manifests
	analysis *api.Analysis

	mesh                              string
	apex, primaryName                 string
	primaryHost, canaryHost           string
	interval                          time.Duration
	threshold                         int
	deadline                          time.Duration
	primaryThreshold, canaryThreshold int
	targetReplicas                    int
	target, primary                   *deployment
	lastAppliedImage                  string
	pendingDeploy                     bool

	// Canary status.
	phase        string
	failedChecks int
	iterations   int
	statusWeight int
	// Router state (what GetRoutes reads).
	primaryWeight, canaryWeight int
	mirrored                    bool
	initTicks                   int

	down     bool
	ticker   *vclock.Timer
	jobStart time.Duration

	rendered map[string]string
	hookErr  error // of the last failed webhook

	// LastCheck is the last metric check's values, by metric name.
	LastCheck map[string]string
	// Outcome bookkeeping for the runner.
	PromotedAt, FailedAt, WaitingAt *time.Duration
	// Settled is true once a finished canary has been scaled to zero.
	Settled bool
}

// New builds the controller: the target Deployment runs the stable image,
// Flagger's job for the Canary starts at phase (a seeded offset in
// [0, interval)) from now, and initialises the Canary on its first ticks.
func New(loop *vclock.Loop, world *dataplane.World, m *api.Manifests, metrics MetricsProvider, webhooks Webhooks,
	emit Emitter, cfg Config, stableImage string, phase time.Duration) *Controller {
	c := &Controller{cfg: cfg, loop: loop, world: world, metrics: metrics, webhooks: webhooks, emit: emit, m: m,
		analysis: m.Canary.Spec.Analysis, LastCheck: map[string]string{}, rendered: map[string]string{}}
	c.mesh = api.MeshFor(&m.Canary, cfg.MeshProvider)
	c.primaryName = m.Canary.Spec.TargetRef.Name + "-primary"
	c.apex, c.primaryHost, c.canaryHost = api.ServiceNames(&m.Canary)
	c.interval = api.AnalysisInterval(c.analysis)
	c.threshold = 1
	if t := *c.analysis.Threshold; t > 0 {
		// GetAnalysisThreshold (FL canary.go:655-661).
		c.threshold = t
	}
	c.deadline = 600 * time.Second
	if d := m.Canary.Spec.ProgressDeadlineSeconds; d != nil {
		c.deadline = time.Duration(*d) * time.Second
	}
	c.primaryThreshold, c.canaryThreshold = 100, 100
	if p := c.analysis.PrimaryReadyThreshold; p != nil {
		c.primaryThreshold = *p
	}
	if p := c.analysis.CanaryReadyThreshold; p != nil {
		c.canaryThreshold = *p
	}
	c.targetReplicas = 1
	if r := m.Target.Spec.Replicas; r != nil {
		c.targetReplicas = *r
	}
	c.target = newDeployment(m.Canary.Spec.TargetRef.Name, m.Target, loop, world, stableImage, c.targetReplicas)
	c.lastAppliedImage = stableImage
	// Before Flagger takes over, users reach the target's pods through the apex.
	world.SetWorkloadService(c.apex, c.target.name)
	world.SetEntry(c.apex)
	world.OnPodsChanged = c.podsChanged
	c.jobStart = loop.Now() + phase
	c.schedule(c.jobStart)
	return c
}

// Interval is the Canary's analysis interval (after clamping).
func (c *Controller) Interval() time.Duration { return c.interval }

// Mesh is istio or linkerd.
func (c *Controller) Mesh() string { return c.mesh }

// schedule runs the Canary's job: once at start, then every interval (FL
// pkg/controller/job.go:32-46).
func (c *Controller) schedule(at time.Duration) {
	if c.ticker != nil {
		c.ticker.Stop()
	}
	var tick func()
	tick = func() {
		c.ticker = c.loop.After(c.interval, tick)
		if c.down {
			return
		}
		c.loop.After(c.cfg.TickLatency, c.advance)
	}
	c.ticker = c.loop.At(at, tick)
}

// podsChanged is the Deployment controller's watch of its pods.
func (c *Controller) podsChanged() {
	if c.pendingDeploy {
		return
	}
	c.pendingDeploy = true
	c.loop.After(0, func() {
		c.pendingDeploy = false
		c.target.reconcile()
		if c.primary != nil {
			c.primary.reconcile()
		}
		c.updateSettled()
	})
}

// Phase is the Canary's status.phase.
func (c *Controller) Phase() string { return c.phase }

// FailedChecks and Threshold are status.failedChecks and the analysis threshold.
func (c *Controller) FailedChecks() (int, int) { return c.failedChecks, c.threshold }

// Image is the target Deployment's image (the release under analysis).
func (c *Controller) Image() string { return c.target.image }

// RoutedCanaryWeight is the routing object's canary weight, as Flagger's
// GetRoutes reads it: with an A/B match, the weight of the matched rule
// (requests without the headers stay on the primary).
func (c *Controller) RoutedCanaryWeight() int { return c.canaryWeight }

// Step is the analysis progress: weight steps taken of the steps to
// maxWeight, or iterations done of the iterations.
func (c *Controller) Step() (int, int) {
	if c.strategy() != api.StrategyCanary {
		return c.iterations, *c.analysis.Iterations
	}
	taken, steps := 0, 0
	for weight := 0; weight < c.maxWeight() && steps < 100; {
		next := c.nextStepWeight(weight)
		if next <= 0 {
			break
		}
		weight = min(100, weight+next)
		steps++
		if weight <= c.canaryWeight {
			taken++
		}
	}
	return taken, steps
}

// Release sets the target Deployment's image, as a user's kubectl or
// GitOps agent does; Flagger sees it at its next tick.
func (c *Controller) Release(image string) {
	c.target.setImage(image)
}

// SetDown stops the process (controller-restart fault) or starts it again:
// a new process creates the job on its first control-loop tick, which
// comes one control-loop interval after its workers start (FL
// pkg/controller/controller.go, scheduleCanaries on the control-loop ticker).
func (c *Controller) SetDown(down bool) {
	c.down = down
	if down {
		if c.ticker != nil {
			c.ticker.Stop()
		}
		return
	}
	c.jobStart = c.loop.Now() + c.cfg.StartupDelay + c.cfg.ControlLoopInterval
	c.schedule(c.jobStart)
}

// RevertWeights is a GitOps agent re-applying the routing object as
// written in Git: Flagger's router keeps the weights on reconcile (FL
// pkg/router/istio.go:301-304 ignores weights) and writes them again only
// when it sets routes, so the manifest's weights hold until its next change.
func (c *Controller) RevertWeights() {}

func (c *Controller) strategy() string {
	// DeploymentStrategy (FL canary.go:693-711).
	if c.analysis.Iterations != nil && *c.analysis.Iterations > 0 {
		if len(c.analysis.Match) > 0 {
			return api.StrategyAB
		}
		return api.StrategyBlueGreen
	}
	return api.StrategyCanary
}

// maxWeight (FL pkg/controller/scheduler.go:41-51).
func (c *Controller) maxWeight() int {
	if n := len(c.analysis.StepWeights); n > 0 {
		return min(100, c.analysis.StepWeights[n-1])
	}
	if c.analysis.MaxWeight > 0 {
		return c.analysis.MaxWeight
	}
	return 100
}

// nextStepWeight (FL pkg/controller/scheduler.go:58-88).
func (c *Controller) nextStepWeight(canaryWeight int) int {
	stepWeight := 0
	if c.analysis.StepWeight != nil {
		stepWeight = *c.analysis.StepWeight
	}
	weights := c.analysis.StepWeights
	if stepWeight > 0 || len(weights) == 0 {
		return stepWeight
	}
	maxStep := 100 - canaryWeight
	if maxStep == 0 {
		return 1
	}
	if canaryWeight == 0 {
		return min(maxStep, weights[0])
	}
	for i := 0; i < len(weights)-1; i++ {
		if weights[i] == canaryWeight {
			return min(maxStep, weights[i+1]-canaryWeight)
		}
	}
	return maxStep
}

func (c *Controller) setPhase(phase, message string) {
	if c.phase == phase {
		return
	}
	c.phase = phase
	c.emit(result.Event{Type: result.CanaryPhaseChanged, Phase: phase, Message: message})
	now := c.loop.Now()
	switch phase {
	case api.PhaseSucceeded:
		c.PromotedAt, c.FailedAt, c.WaitingAt = &now, nil, nil
	case api.PhaseFailed:
		c.FailedAt, c.PromotedAt, c.WaitingAt = &now, nil, nil
	case api.PhaseWaiting, api.PhaseWaitingPromotion:
		c.WaitingAt = &now
	default:
		c.PromotedAt, c.FailedAt, c.WaitingAt = nil, nil, nil
	}
}

func (c *Controller) name() string { return c.m.Canary.Metadata.Name + "." + c.m.Namespace }
