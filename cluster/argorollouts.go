package cluster

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/dynamic/dynamicinformer"

	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/engine"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// rolloutRun is an Argo Rollouts scenario's run: the Rollout applied and
// watched, the kubectl plugin's patches for the operator's actions.
type rolloutRun struct{ s *Session }

// Decode reads a scenario's manifests for a cluster backend: the Argo
// Rollouts manifests as the model checks them, and the objects to apply in
// their namespace. A Rollout without a canary strategy is a backend error
// naming the backend and the Rollout's file:line.
func Decode(sc *scenario.Scenario, backend string) (*argorollouts.Manifests, []Object, error) {
	m, err := argorollouts.DecodeScenario(sc)
	if err != nil {
		return nil, nil, err
	}
	if m.RolloutWhere == "" {
		// A standalone Experiment (the only set without a Rollout that
		// decodes): nothing of canarylab's to drive.
		return nil, nil, fmt.Errorf("%w: %s", runner.ErrBackend, m.StandaloneExperiment())
	}
	if m.Rollout.Spec.Strategy.Canary == nil {
		return nil, nil, fmt.Errorf("%w: %s: the %s backend drives canary Rollouts; blueGreen is not driven yet", runner.ErrBackend, m.RolloutWhere, backend)
	}
	objects, err := Objects(sc.Documents, m.Namespace)
	if err != nil {
		return nil, nil, err
	}
	return m, objects, nil
}

// Routing is how the scenario's Rollout routes traffic, read from its
// canary strategy.
type Routing struct {
	// Routed: Istio traffic routing; the weights are the VirtualService's.
	Routed bool
	// VirtualService and ManagedRoutes name the route the controller writes.
	VirtualService string
	ManagedRoutes  []string
	// CanaryKey is the route destination of the canary: its Service, or the
	// DestinationRule's canary subset.
	CanaryKey string
	// Entry is the Service that receives all traffic without routing.
	Entry string
}

// RoutingOf reads the routing of a canary Rollout.
func RoutingOf(m *argorollouts.Manifests) Routing {
	canary := m.Rollout.Spec.Strategy.Canary
	routing := Routing{CanaryKey: canary.CanaryService, Entry: m.EntryService()}
	if tr := canary.TrafficRouting; tr != nil && tr.Istio != nil {
		routing.Routed = true
		if vs := tr.Istio.VirtualService; vs != nil {
			routing.VirtualService, routing.ManagedRoutes = vs.Name, vs.Routes
		} else if len(tr.Istio.VirtualServices) > 0 {
			routing.VirtualService, routing.ManagedRoutes = tr.Istio.VirtualServices[0].Name, tr.Istio.VirtualServices[0].Routes
		}
		if dr := tr.Istio.DestinationRule; dr != nil {
			routing.CanaryKey = dr.CanarySubsetName
		}
	}
	return routing
}

// run applies the manifests, waits for the stable version to be Healthy,
// and watches the Rollout and its routing from then on.
func (r rolloutRun) run(ctx context.Context) (res *result.Result, err error) {
	s := r.s
	rollout := s.Manifests.Rollout
	s.Driver = &Driver{Client: s.Client, Namespace: s.Manifests.Namespace, Rollout: rollout.Metadata.Name, Objects: s.Objects, Mapper: s.Mapper}
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	// Whatever happens from here, what was applied is deleted again.
	defer s.cleanup(ctx, &err, nil)
	if err := s.Driver.Apply(ctx); err != nil {
		return nil, err
	}
	if err := s.Driver.WaitHealthy(ctx, s.HealthyTimeout); err != nil {
		return nil, fmt.Errorf("deploying the stable image %s: %w", s.Scenario.Spec.Stable, err)
	}

	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	routing := RoutingOf(s.Manifests)
	s.Observer = &Observer{Namespace: s.Manifests.Namespace, Rollout: rollout.Metadata.Name,
		VirtualService: routing.VirtualService, ManagedRoutes: routing.ManagedRoutes,
		Clock: s.Plane.Now, Emit: s.Emit, Changed: s.Plane.Follow}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(s.Client, 0, s.Manifests.Namespace, nil)
	if err := s.Observer.Start(watchCtx, factory); err != nil {
		return nil, err
	}
	return s.releaseAndLoop(ctx, s.Observer.Snapshot, s.Observer.MarkReleased, stopWatching)
}

func (r rolloutRun) snapshot() Snapshot { return r.s.Observer.Snapshot() }

// outcome is argorollouts.Outcome on the observed Rollout; settled, once
// only the stable ReplicaSet has replicas.
func (r rolloutRun) outcome(snapshot Snapshot) (string, *time.Duration, bool) {
	settled := true
	for hash, rs := range snapshot.ReplicaSets {
		if hash != snapshot.Rollout.StableRS && rs.Desired > 0 {
			settled = false
		}
	}
	o := r.s.Observer
	o.mu.Lock()
	progress := argorollouts.Progress{Phase: snapshot.Rollout.Phase, Abort: snapshot.Rollout.Abort,
		FullyPromoted: snapshot.Rollout.StableRS == snapshot.Rollout.CurrentPodHash,
		PromotedAt:    o.PromotedAt, AbortedAt: o.AbortedAt, PausedAt: o.PausedAt}
	o.mu.Unlock()
	outcome, since := argorollouts.Outcome(progress)
	return outcome, since, settled
}

func (r rolloutRun) live(snapshot Snapshot, live *engine.Live) {
	rollout := snapshot.Rollout
	live.Step, live.Steps, live.Phase, live.Image = rollout.CurrentStepIndex, rollout.Steps, rollout.Phase, rollout.Image
}

// The kubectl argo rollouts plugin's actions (driver.go).
func (r rolloutRun) promote(ctx context.Context) error     { return r.s.Driver.Promote(ctx) }
func (r rolloutRun) promoteFull(ctx context.Context) error { return r.s.Driver.PromoteFull(ctx) }
func (r rolloutRun) abort(ctx context.Context) error       { return r.s.Driver.Abort(ctx) }
func (r rolloutRun) retry(ctx context.Context) error       { return r.s.Driver.Retry(ctx) }

// revertWeights re-applies the VirtualService as the manifests have it
// (a GitOps agent without ignoreDifferences): the weights go back to what
// Git says until the controller writes them again.
func (r rolloutRun) revertWeights(ctx context.Context) error {
	s := r.s
	name := s.Observer.VirtualService
	vs, ok := s.Driver.Object("VirtualService", name)
	if !ok {
		return fmt.Errorf("gitops-revert: the scenario's manifests have no VirtualService %q", name)
	}
	return s.Driver.ApplyObject(ctx, vs, "canarylab-gitops")
}

func (r rolloutRun) namespace() string { return r.s.Manifests.Namespace }

// hashLabel is the Rollout's own pod-template-hash label.
func (r rolloutRun) hashLabel() string { return "rollouts-pod-template-hash" }
