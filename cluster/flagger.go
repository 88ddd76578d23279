package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic/dynamicinformer"

	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/engine"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Resources of Flagger scenarios.
var (
	Deployments              = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	Canaries                 = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "canaries"}
	MetricTemplates          = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "metrictemplates"}
	HorizontalPodAutoscalers = schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}
	ConfigMaps               = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	Secrets                  = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// Canary is what a cluster backend reads of a flagger scenario's Canary.
type Canary struct {
	Name, Namespace string
	// Where is the Canary's file:line.
	Where string
	// Target is the Deployment Flagger drives; Container the index of its
	// released container.
	Target    string
	Container int
	// Apex names the Services and the VirtualService: service.name, else
	// the target (FL pkg/apis/flagger/v1beta1/canary.go:608-616).
	Apex string
	// Provider is spec.provider; "" leaves it to the controller's
	// -mesh-provider.
	Provider string
	// Interval is analysis.interval, at least 10s as Flagger has it;
	// Threshold is analysis.threshold.
	Interval  time.Duration
	Threshold int
	// Port is service.port.
	Port int
	// Manifests are the scenario's Flagger objects as the sim's model
	// reads them.
	Manifests *flagger.Manifests
}

// PrimaryDeployment is the Deployment Flagger copies the target to.
func (c *Canary) PrimaryDeployment() string { return c.Target + "-primary" }

// PrimaryHost is the primary's Service, which the routing weighs against
// CanaryHost.
func (c *Canary) PrimaryHost() string { return c.Apex + "-primary" }

// CanaryHost is the Service of the canary (the target's pods).
func (c *Canary) CanaryHost() string { return c.Apex + "-canary" }

// DecodeCanary reads a flagger scenario's manifests for a cluster backend
// (validated as the sim's model checks them, FL's CRD and controller
// rules): the Canary and the objects to apply in its namespace.
func DecodeCanary(sc *scenario.Scenario) (*Canary, []Object, error) {
	m, err := flagger.DecodeScenario(sc)
	if err != nil {
		return nil, nil, err
	}
	if err := m.Unanswerable(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	spec := m.Canary.Spec
	if m.CanaryWhere == "" || spec.TargetRef == nil || spec.Analysis == nil {
		return nil, nil, fmt.Errorf("%w: %s: the scenario holds no Canary with a targetRef and an analysis", scenario.ErrInvalid, sc.Path)
	}
	apex, _, _ := flagger.ServiceNames(&m.Canary)
	canary := &Canary{Name: m.Canary.Metadata.Name, Namespace: m.Namespace, Where: m.CanaryWhere,
		Target: spec.TargetRef.Name, Apex: apex, Provider: spec.Provider,
		Interval: flagger.AnalysisInterval(spec.Analysis), Manifests: m}
	if spec.Analysis.Threshold != nil {
		canary.Threshold = *spec.Analysis.Threshold
	}
	if spec.Service != nil && spec.Service.Port != nil {
		canary.Port = *spec.Service.Port
	}
	objects, err := Objects(sc.Documents, canary.Namespace)
	if err != nil {
		return nil, nil, err
	}
	return canary, objects, nil
}

// canaryRun is a Flagger scenario's run: the target Deployment applied,
// Flagger's initialization awaited, the Canary watched.
type canaryRun struct{ s *Session }

// Gates is a Plane that emulates Flagger's loadtester: its confirm gates
// (/gate/check) stay closed until promote opens them, its rollback gate
// (/rollback/check) until abort opens it (docs/architecture.md#actions).
type Gates interface {
	OpenGate(canary, namespace string)
	OpenRollback(canary, namespace string)
}

// run is a Flagger Canary's: the target Deployment with the
// stable image, Flagger's initialization (the primary, its Services and
// routing, the target scaled to 0), then the release by setting the
// target's image, as `kubectl set image` does.
func (r canaryRun) run(ctx context.Context) (res *result.Result, err error) {
	s := r.s
	c := s.Canary
	s.Driver = &Driver{Client: s.Client, Namespace: c.Namespace, Rollout: c.Target, Kind: "Deployment", Container: c.Container, Objects: s.Objects, Mapper: s.Mapper}
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	// The primary Deployment is Flagger's, owned by the Canary: the next run
	// starts from nothing once it is gone too.
	defer s.cleanup(ctx, &err, func(cleanupCtx context.Context) error {
		primary := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": c.PrimaryDeployment(), "namespace": c.Namespace}}}
		return s.Driver.waitGone(cleanupCtx, Object{Unstructured: primary, gvr: Deployments})
	})

	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	s.CanaryObserver = &CanaryObserver{Canary: c, Clock: s.Plane.Now, Emit: s.Emit, Changed: s.Plane.Follow}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(s.Client, 0, c.Namespace, nil)
	if err := s.CanaryObserver.Start(watchCtx, factory); err != nil {
		return nil, err
	}
	if err := s.Driver.Apply(ctx); err != nil {
		return nil, err
	}
	if err := s.CanaryObserver.Wait(ctx, s.HealthyTimeout, r.initialized); err != nil {
		return nil, fmt.Errorf("deploying the stable image %s: Flagger did not initialize the Canary: %w", s.Scenario.Spec.Stable, err)
	}
	s.log("Flagger initialized the Canary", "canary", c.Namespace+"/"+c.Name)
	return s.releaseAndLoop(ctx, s.CanaryObserver.Snapshot, s.CanaryObserver.MarkReleased, stopWatching)
}

// initialized: Flagger has set the phase Initialized, routes all traffic
// to a ready primary and has scaled the target to 0.
func (r canaryRun) initialized(snapshot Snapshot) bool {
	c := r.s.Canary
	if snapshot.Canary.Phase != flagger.PhaseInitialized {
		return false
	}
	routed := false
	for _, route := range snapshot.Routes {
		routed = routed || (route.Host == c.PrimaryHost() && route.Weight == 100)
	}
	primaryReady := false
	for _, rs := range snapshot.ReplicaSets {
		switch {
		case rs.Owner == c.Target && rs.Desired > 0:
			return false
		case rs.Owner == c.PrimaryDeployment() && rs.Desired > 0:
			primaryReady = rs.Ready >= rs.Desired
		}
	}
	return routed && primaryReady
}

func (r canaryRun) snapshot() Snapshot { return r.s.CanaryObserver.Snapshot() }

// outcome is flagger.Outcome on the observed Canary; settled, once the
// target is scaled to 0 and the primary runs one ReplicaSet.
func (r canaryRun) outcome(snapshot Snapshot) (string, *time.Duration, bool) {
	o := r.s.CanaryObserver
	o.mu.Lock()
	reached := flagger.Reached{Succeeded: o.PromotedAt, Failed: o.FailedAt, Waiting: o.WaitingAt}
	o.mu.Unlock()
	outcome, since := flagger.Outcome(snapshot.Canary.Phase, reached)
	return outcome, since, r.settled(snapshot)
}

func (r canaryRun) settled(snapshot Snapshot) bool {
	primaries := 0
	for _, rs := range snapshot.ReplicaSets {
		if rs.Desired == 0 {
			continue
		}
		if rs.Owner == r.s.Canary.Target {
			return false
		}
		primaries++
	}
	return primaries <= 1
}

func (r canaryRun) live(snapshot Snapshot, live *engine.Live) {
	live.Phase, live.Image = snapshot.Canary.Phase, snapshot.Canary.TargetImage
}

// promote and abort open the emulated loadtester's gates: Flagger has no
// other way in (docs/architecture.md#actions). Flagger has no promote-full
// or retry (scenario.ActionsFor), which the engine never asks for.
func (r canaryRun) promote(context.Context) error { return r.openGate(Gates.OpenGate) }
func (r canaryRun) abort(context.Context) error   { return r.openGate(Gates.OpenRollback) }
func (r canaryRun) promoteFull(context.Context) error {
	return fmt.Errorf("flagger has no promote-full")
}
func (r canaryRun) retry(context.Context) error { return fmt.Errorf("flagger has no retry") }

// revertWeights: there is no routing in the manifests to re-apply.
func (r canaryRun) revertWeights(context.Context) error {
	return fmt.Errorf("gitops-revert: Flagger makes its VirtualService itself; a scenario's manifests hold none to re-apply")
}

func (r canaryRun) namespace() string { return r.s.Canary.Namespace }

// hashLabel is the Deployment controller's pod-template-hash label.
func (r canaryRun) hashLabel() string { return "pod-template-hash" }

// openGate opens a gate of the emulated loadtester for the Canary.
func (r canaryRun) openGate(open func(Gates, string, string)) error {
	s := r.s
	gates, ok := s.Plane.(Gates)
	if !ok {
		return fmt.Errorf("the %s backend has no loadtester gates for Flagger", s.Backend)
	}
	open(gates, s.Canary.Name, s.Canary.Namespace)
	return nil
}

// patchImage sets the target Deployment's image and pod annotations with a
// strategic merge patch, as `kubectl set image` does: Flagger owns the
// target's replicas (it scales it), which an apply of the whole object
// would take back.
func (d *Driver) patchImage(ctx context.Context, image string, annotations map[string]string) error {
	if err := d.SetImage(image, annotations); err != nil {
		return err
	}
	target, _ := d.Object(d.kind(), d.Rollout)
	containers, _, _ := unstructured.NestedSlice(target.Object, "spec", "template", "spec", "containers")
	name, _ := containers[d.Container].(map[string]any)["name"].(string)
	patch := map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": annotations},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": name, "image": image}}},
	}}}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if _, err := d.resource(target).Patch(ctx, d.Rollout, types.StrategicMergePatchType, data, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("setting the image of %s %s to %s: %w", d.kind(), d.Rollout, image, err)
	}
	return nil
}
