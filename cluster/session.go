package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/engine"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Plane is what a cluster backend runs beside the real controller, and
// what differs between the backends: the run's clock, the traffic (and the
// canary weight it is routed with), and the faults that act on them. The
// Session does the rest.
type Plane interface {
	// Now is the run time: the time since the release, 0 before Start.
	Now() time.Duration
	// Warm is called once the stable version is Healthy and watched, before
	// the release is scheduled. A plane whose load is real sends it from
	// here for a while, so that the analysis' rate windows have history at
	// the release (a modelled plane generates its warm-up in Start).
	Warm(ctx context.Context) error
	// Start begins the run at the release, a whole wall-clock second:
	// time and load start. snapshot is the cluster as observed then; emit
	// records events on the run's timeline (WeightChanged).
	Start(ctx context.Context, release time.Time, snapshot Snapshot, emit func(result.Event)) error
	// Follow is given every change the Observer sees, with its lock held:
	// the plane tracks the routed weight and emits WeightChanged from it.
	// It is called before Start too (the stable deploy).
	Follow(Snapshot)
	// Advance brings the traffic up to Now. An error ends the run as a
	// backend error.
	Advance() error
	// Live is, for the live view, the routed canary weight and the
	// requests and failures of the last whole second by version
	// ("stable", "canary").
	Live() (canaryWeight int, requests, failed map[string]int64)
	// Finish stops the traffic and returns the run's request counts and
	// per-second series (with the routed canary weight) up to Now.
	Finish() (result.Requests, *result.Series)
	// PodAnnotations are set on the pod template with an image (the local
	// backend's kwok ready delay); nil for none.
	PodAnnotations(image string) map[string]string
	// The faults that act on the plane (pod-kill and gitops-revert act on
	// the cluster the same way for every backend: the Session's).
	engine.PlaneFaults
}

// Session is one scenario's run on a cluster, whatever the backend and
// whichever controller (an Argo Rollouts Rollout, or a Flagger Canary when
// Canary is set): it deploys the stable image and waits for the
// controller to take it over, releases on a whole second,
// applies the scenario's timed faults and actions and those of the live
// view, watches the rollout until the run is finished or its limit is
// reached, and assembles the Result. Everything it applied is deleted at
// the end.
type Session struct {
	Scenario *scenario.Scenario
	Options  runner.Options
	// WallClock is the wall clock Flagger's message times are read
	// against; nil is time.Now (tests fix it).
	WallClock func() time.Time
	// Backend names the backend in the Result.
	Backend string
	// Manifests are an Argo Rollouts scenario's; Canary is a flagger
	// scenario's (DecodeCanary), and Manifests is then nil.
	Manifests *argorollouts.Manifests
	Canary    *Canary
	Client    dynamic.Interface
	// Mapper finds the resources of the manifests' other kinds (a
	// Gateway, a ServiceAccount), as kubectl does.
	Mapper meta.RESTMapper
	// Objects are the scenario's manifests as they are applied.
	Objects []Object
	Plane
	// HealthyTimeout bounds the stable deploy.
	HealthyTimeout time.Duration
	// Tick is how often the run looks at the clock (engine.Wall's default
	// when 0).
	Tick time.Duration
	// ReleaseNote, if set, is the message of the ReleaseStarted event: what
	// the backend changed in the manifests (addresses it rewrote).
	ReleaseNote string
	// Log, if set, hears what the run is waiting for.
	Log *slog.Logger

	// Driver and Observer (CanaryObserver with a Canary) exist from the
	// start of Run.
	Driver         *Driver
	Observer       *Observer
	CanaryObserver *CanaryObserver

	// engine runs the scenario from the release on.
	engine *engine.Run

	mu      sync.Mutex
	events  []result.Event
	pending []pendingMessage
}

var _ engine.World = (*Session)(nil)

// Emit records an event on the timeline (at its own time) and reports it.
// With a Flagger Canary, a message Flagger sent for it first is attached.
func (s *Session) Emit(event result.Event) {
	s.mu.Lock()
	s.takePendingLocked(&event)
	s.events = append(s.events, event)
	s.mu.Unlock()
	if s.Options.Progress != nil {
		s.Options.Progress(s.Scenario.Metadata.Name, event)
	}
}

// Run replays the scenario with the controller it names. It returns a
// Result whenever the release happened, also together with an error.
func (s *Session) Run(ctx context.Context) (*result.Result, error) {
	return s.controller().run(ctx)
}

// controlled is what the Session needs of the controller a scenario
// names: how the stable version is deployed and watched, what the
// operator's actions patch, and what the observed state means. Each
// controller's is in its own file (argorollouts.go, flagger.go).
type controlled interface {
	// run deploys the stable version, watches it, and goes on with
	// releaseAndLoop.
	run(ctx context.Context) (*result.Result, error)
	snapshot() Snapshot
	// outcome is the controller's rule on the snapshot; settled, that
	// only the stable version has replicas.
	outcome(Snapshot) (outcome string, since *time.Duration, settled bool)
	live(Snapshot, *engine.Live)
	promote(ctx context.Context) error
	promoteFull(ctx context.Context) error
	abort(ctx context.Context) error
	retry(ctx context.Context) error
	revertWeights(ctx context.Context) error
	namespace() string
	// hashLabel is the pod label of a ReplicaSet's pod-template hash.
	hashLabel() string
}

// controller is the scenario's controller: a Flagger Canary when Canary is
// set, else an Argo Rollouts Rollout.
func (s *Session) controller() controlled {
	if s.Canary != nil {
		return canaryRun{s}
	}
	return rolloutRun{s}
}

// releaseAndLoop warms the plane, releases on a whole second, and runs the
// loop to the end; snapshot and markReleased are the observer's,
// stopWatching ends its watches once the loop is done.
func (s *Session) releaseAndLoop(ctx context.Context, snapshot func() Snapshot, markReleased func(), stopWatching func()) (*result.Result, error) {
	if err := s.Plane.Warm(ctx); err != nil {
		return nil, err
	}
	// The release happens on a whole second of the wall clock, as it does
	// on the sim's clock: the controller keeps times in whole seconds
	// (metav1.Time), so a pause that starts at 3.3s ends at 13s on both.
	release := time.Now().Truncate(time.Second).Add(time.Second)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(release)):
	}
	if err := s.Plane.Start(ctx, release, snapshot(), s.Emit); err != nil {
		return nil, err
	}
	markReleased()
	runErr := s.loop(ctx)
	stopWatching()
	return s.result(), runErr
}

// loop runs the engine on the wall clock from the release to the end.
func (s *Session) loop(ctx context.Context) error {
	s.engine = &engine.Run{Scenario: s.Scenario, Options: s.Options, World: s, ReleaseNote: s.ReleaseNote,
		Clock: &engine.Wall{Time: s.Plane.Now, Sync: s.Plane.Advance, Tick: s.Tick}}
	return s.engine.Loop(ctx)
}

// Outcome is the controller's rule on what the observer saw.
func (s *Session) Outcome() (string, *time.Duration, bool) {
	c := s.controller()
	return c.outcome(c.snapshot())
}

// result assembles the Result: the plane's traffic, the timeline in time
// order, and the outcome.
func (s *Session) result() *result.Result {
	requests, series := s.Plane.Finish()
	s.mu.Lock()
	events := append([]result.Event{}, s.events...)
	s.mu.Unlock()
	sort.SliceStable(events, func(i, j int) bool { return events[i].AtSeconds < events[j].AtSeconds })
	res := &result.Result{Scenario: s.Scenario.Metadata.Name, Backend: s.Backend, Seed: s.Options.Seed, Requests: requests, Events: events, Series: series}
	if s.engine != nil {
		res.Outcome = s.engine.Outcome()
	} else {
		res.Outcome = result.Outcome{Result: scenario.OutcomeDegraded}
	}
	return res
}

// Live is the plane's traffic and the observed rollout.
func (s *Session) Live() engine.Live {
	weight, requests, failed := s.Plane.Live()
	live := engine.Live{CanaryWeight: weight, Requests: requests, Failed: failed}
	c := s.controller()
	c.live(c.snapshot(), &live)
	return live
}

// Release sets a further image on the workload.
func (s *Session) Release(ctx context.Context, image string) error {
	return s.Driver.Release(ctx, image, s.Plane.PodAnnotations(image))
}

// Promote, PromoteFull, Abort and Retry are the operator's actions, as
// the scenario's controller takes them.
func (s *Session) Promote(ctx context.Context) error     { return s.controller().promote(ctx) }
func (s *Session) PromoteFull(ctx context.Context) error { return s.controller().promoteFull(ctx) }
func (s *Session) Abort(ctx context.Context) error       { return s.controller().abort(ctx) }
func (s *Session) Retry(ctx context.Context) error       { return s.controller().retry(ctx) }

// RevertWeights is a GitOps agent syncing the routing as the manifests
// have it.
func (s *Session) RevertWeights(ctx context.Context) error { return s.controller().revertWeights(ctx) }

// TargetHashes are the pod-template hashes of the target's ReplicaSets:
// canary (any image but the stable one), stable, or all.
func (s *Session) TargetHashes(target scenario.Target) []string {
	var hashes []string
	for hash, rs := range s.snapshot().ReplicaSets {
		class := scenario.TargetCanary
		if rs.Image == s.Scenario.Spec.Stable {
			class = scenario.TargetStable
		}
		if target == scenario.TargetAll || target == class {
			hashes = append(hashes, hash)
		}
	}
	sort.Strings(hashes)
	return hashes
}

// TargetPods lists the target's pods that are not being deleted, ready
// ones first.
func (s *Session) TargetPods(ctx context.Context, target scenario.Target) ([]unstructured.Unstructured, error) {
	var pods []unstructured.Unstructured
	for _, hash := range s.TargetHashes(target) {
		list, err := s.Client.Resource(Pods).Namespace(s.namespace()).List(ctx,
			metav1.ListOptions{LabelSelector: s.hashLabel() + "=" + hash})
		if err != nil {
			return nil, fmt.Errorf("listing pods: %w", err)
		}
		for _, pod := range list.Items {
			if pod.GetDeletionTimestamp() == nil {
				pods = append(pods, pod)
			}
		}
	}
	sort.SliceStable(pods, func(i, j int) bool { return PodReady(&pods[i]) && !PodReady(&pods[j]) })
	return pods, nil
}

// PodReady reads a pod's Ready condition.
func PodReady(pod *unstructured.Unstructured) bool {
	conditions, _, _ := unstructured.NestedSlice(pod.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			return m["status"] == "True"
		}
	}
	return false
}

// KillPods deletes up to count of the target's pods, as `kubectl delete pod`.
func (s *Session) KillPods(ctx context.Context, target scenario.Target, count int) (int, error) {
	pods, err := s.TargetPods(ctx, target)
	if err != nil {
		return 0, err
	}
	killed := 0
	for _, pod := range pods {
		if killed == count {
			break
		}
		err := s.Client.Resource(Pods).Namespace(s.namespace()).Delete(ctx, pod.GetName(), metav1.DeleteOptions{})
		if err != nil {
			return killed, fmt.Errorf("deleting pod %s: %w", pod.GetName(), err)
		}
		killed++
	}
	return killed, nil
}

func (s *Session) snapshot() Snapshot { return s.controller().snapshot() }
func (s *Session) namespace() string  { return s.controller().namespace() }
func (s *Session) hashLabel() string  { return s.controller().hashLabel() }

func (s *Session) log(message string, args ...any) {
	if s.Log != nil {
		s.Log.Info(message, args...)
	}
}

// prepare sets the stable image on the workload and prepares the objects.
func (s *Session) prepare(ctx context.Context) error {
	if err := s.Driver.SetImage(s.Scenario.Spec.Stable, s.Plane.PodAnnotations(s.Scenario.Spec.Stable)); err != nil {
		return err
	}
	return s.Driver.Prepare(ctx)
}

// cleanup deletes what the run applied, then runs also (if set), joining
// their errors into *err; it runs on a context of its own, so an
// interrupted run still cleans up.
func (s *Session) cleanup(ctx context.Context, err *error, also func(context.Context) error) {
	cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	if cleanupErr := s.Driver.Cleanup(cleanupCtx, 45*time.Second); cleanupErr != nil {
		*err = errors.Join(*err, fmt.Errorf("cleaning up: %w", cleanupErr))
	}
	if also == nil {
		return
	}
	if cleanupErr := also(cleanupCtx); cleanupErr != nil {
		*err = errors.Join(*err, fmt.Errorf("cleaning up: %w", cleanupErr))
	}
}
