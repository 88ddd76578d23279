package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"

	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/sim/dataplane"
)

// CanaryStatus is the part of a Flagger Canary's status the run reads.
type CanaryStatus struct {
	Phase        string
	FailedChecks int
	// Weight is status.canaryWeight, which is not the routed weight
	// (docs/measurements.md#flagger-status-fields): the routed one is in Snapshot.Routes.
	Weight int
	// Message is the Promoted condition's message.
	Message string
	// TargetImage is the image of the target Deployment's template.
	TargetImage string
}

// selectorLabels are the pod labels Flagger selects by, in its order
// (cmd/flagger/main.go -selector-labels default).
var selectorLabels = []string{"app", "name", "app.kubernetes.io/name"}

// CanaryObserver watches a Flagger Canary and what Flagger makes of it —
// the target and primary Deployments' ReplicaSets, the Services and the
// VirtualService — and turns them into timeline events and snapshots, as
// Observer does for a Rollout.
type CanaryObserver struct {
	Canary *Canary
	// Clock is the time since the release.
	Clock func() time.Duration
	// Emit receives each timeline event with its time set.
	Emit func(result.Event)
	// Changed is called after every change of the snapshot, with the
	// observer's lock held: it must not call back into the observer.
	Changed func(Snapshot)

	mu       sync.Mutex
	snapshot Snapshot
	// notify is closed and replaced on every change (Wait).
	notify   chan struct{}
	released bool
	// phase and failedChecks as last reported.
	phase        string
	failedChecks int
	// canaryScaled: the target had replicas since the release or its last
	// scale-down.
	canaryScaled bool

	// Outcome moments, from the release: Succeeded, Failed, and the start
	// of a wait for a person (Waiting, WaitingPromotion).
	PromotedAt, FailedAt, WaitingAt *time.Duration
}

// Start runs informers on the Canary's namespace until ctx ends, and
// returns once their caches have synced.
func (o *CanaryObserver) Start(ctx context.Context, factory dynamicinformer.DynamicSharedInformerFactory) error {
	o.mu.Lock()
	o.snapshot = Snapshot{ReplicaSets: map[string]ReplicaSet{}, Services: map[string]string{}, Subsets: map[string]string{},
		ServiceWorkloads: map[string]string{}}
	o.notify = make(chan struct{})
	o.mu.Unlock()
	handlers := map[schema.GroupVersionResource]func(*unstructured.Unstructured, bool){
		Canaries:        o.onCanary,
		Deployments:     o.onDeployment,
		ReplicaSets:     o.onReplicaSet,
		Services:        o.onService,
		VirtualServices: o.onVirtualService,
	}
	return watchAll(ctx, factory, o.Canary.Namespace, handlers, func(change func()) {
		o.mu.Lock()
		defer o.mu.Unlock()
		change()
		if o.Changed != nil {
			o.Changed(o.snapshotLocked())
		}
		close(o.notify)
		o.notify = make(chan struct{})
	})
}

// Snapshot is the current state.
func (o *CanaryObserver) Snapshot() Snapshot {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.snapshotLocked()
}

func (o *CanaryObserver) snapshotLocked() Snapshot {
	s := o.snapshot
	s.ReplicaSets = make(map[string]ReplicaSet, len(o.snapshot.ReplicaSets))
	for k, v := range o.snapshot.ReplicaSets {
		s.ReplicaSets[k] = v
	}
	s.Services = copyMap(o.snapshot.Services)
	s.Subsets = copyMap(o.snapshot.Subsets)
	s.ServiceWorkloads = copyMap(o.snapshot.ServiceWorkloads)
	s.Routes = append([]Route(nil), o.snapshot.Routes...)
	s.Rules = append([]dataplane.HTTPRoute(nil), o.snapshot.Rules...)
	return s
}

// Wait waits until done holds for a snapshot, the deadline passes or ctx
// ends; on a timeout it returns the last snapshot's description.
func (o *CanaryObserver) Wait(ctx context.Context, deadline time.Duration, done func(Snapshot) bool) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	for {
		o.mu.Lock()
		snapshot, changed := o.snapshotLocked(), o.notify
		o.mu.Unlock()
		if done(snapshot) {
			return nil
		}
		select {
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("waiting for the Canary %s/%s (phase %q): %w", o.Canary.Namespace, o.Canary.Name, snapshot.Canary.Phase, ctx.Err())
			}
			return fmt.Errorf("after %s the Canary %s/%s is in phase %q (%s): %w", deadline, o.Canary.Namespace, o.Canary.Name,
				snapshot.Canary.Phase, snapshot.Canary.Message, ctx.Err())
		case <-changed:
		}
	}
}

// MarkReleased records the moment of the release: transitions before it
// (the stable deploy and Flagger's initialization) are not part of the
// timeline.
func (o *CanaryObserver) MarkReleased() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.released = true
	o.phase = o.snapshot.Canary.Phase
	o.failedChecks = o.snapshot.Canary.FailedChecks
	o.canaryScaled = false
}

func (o *CanaryObserver) emit(event result.Event) {
	if !o.released {
		return
	}
	event.AtSeconds = result.Seconds(o.Clock())
	if o.Emit != nil {
		o.Emit(event)
	}
}

func (o *CanaryObserver) onCanary(canary *unstructured.Unstructured, deleted bool) {
	if canary.GetName() != o.Canary.Name || deleted {
		return
	}
	status := CanaryStatus{TargetImage: o.snapshot.Canary.TargetImage}
	status.Phase, _, _ = unstructured.NestedString(canary.Object, "status", "phase")
	failed, _, _ := unstructured.NestedInt64(canary.Object, "status", "failedChecks")
	weight, _, _ := unstructured.NestedInt64(canary.Object, "status", "canaryWeight")
	status.FailedChecks, status.Weight = int(failed), int(weight)
	conditions, _, _ := unstructured.NestedSlice(canary.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == "Promoted" {
			status.Message, _ = m["message"].(string)
		}
	}
	o.snapshot.Canary = status
	if !o.released {
		return
	}
	// failedChecks first: Flagger counts the check, and resets the count
	// in the same status update that sets Failed
	// (docs/measurements.md#flagger-status-fields).
	if status.FailedChecks > o.failedChecks {
		for n := o.failedChecks + 1; n <= status.FailedChecks; n++ {
			o.emit(result.Event{Type: result.CheckFailed, Value: strconv.Itoa(n) + "/" + strconv.Itoa(o.Canary.Threshold)})
		}
	}
	o.failedChecks = status.FailedChecks
	if status.Phase == o.phase || status.Phase == "" {
		return
	}
	o.phase = status.Phase
	o.emit(result.Event{Type: result.CanaryPhaseChanged, Phase: status.Phase})
	now := o.Clock()
	switch status.Phase {
	case flagger.PhaseSucceeded:
		o.PromotedAt, o.FailedAt, o.WaitingAt = &now, nil, nil
	case flagger.PhaseFailed:
		o.PromotedAt, o.FailedAt, o.WaitingAt = nil, &now, nil
	case flagger.PhaseWaiting, flagger.PhaseWaitingPromotion:
		o.PromotedAt, o.FailedAt, o.WaitingAt = nil, nil, &now
	default:
		o.PromotedAt, o.FailedAt, o.WaitingAt = nil, nil, nil
	}
}

// onDeployment reads the target's image: what the canary runs.
func (o *CanaryObserver) onDeployment(deployment *unstructured.Unstructured, deleted bool) {
	if deployment.GetName() != o.Canary.Target || deleted {
		return
	}
	containers, _, _ := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	if o.Canary.Container < len(containers) {
		o.snapshot.Canary.TargetImage, _ = containers[o.Canary.Container].(map[string]any)["image"].(string)
	}
}

// workloadOf is the value of the first of Flagger's selector labels set:
// what its Services select pods by (podinfo for the target's pods,
// podinfo-primary for the primary's).
func workloadOf(labels map[string]string) string {
	for _, label := range selectorLabels {
		if value, ok := labels[label]; ok {
			return value
		}
	}
	return ""
}

func (o *CanaryObserver) onReplicaSet(rs *unstructured.Unstructured, deleted bool) {
	owner := ""
	for _, ref := range rs.GetOwnerReferences() {
		if ref.Kind == "Deployment" && (ref.Name == o.Canary.Target || ref.Name == o.Canary.PrimaryDeployment()) {
			owner = ref.Name
		}
	}
	if owner == "" {
		return
	}
	hash := rs.GetLabels()["pod-template-hash"]
	if deleted {
		delete(o.snapshot.ReplicaSets, hash)
		return
	}
	desired, _, _ := unstructured.NestedInt64(rs.Object, "spec", "replicas")
	ready, _, _ := unstructured.NestedInt64(rs.Object, "status", "readyReplicas")
	containers, _, _ := unstructured.NestedSlice(rs.Object, "spec", "template", "spec", "containers")
	image := ""
	if o.Canary.Container < len(containers) {
		image, _ = containers[o.Canary.Container].(map[string]any)["image"].(string)
	}
	labels, _, _ := unstructured.NestedStringMap(rs.Object, "spec", "template", "metadata", "labels")
	o.snapshot.ReplicaSets[hash] = ReplicaSet{Name: rs.GetName(), Hash: hash, Image: image, Desired: int(desired), Ready: int(ready),
		Workload: workloadOf(labels), Owner: owner}
	if owner != o.Canary.Target {
		return
	}
	// The canary is scaled to 0 at Succeeded and Failed.
	scaled := false
	for _, other := range o.snapshot.ReplicaSets {
		scaled = scaled || (other.Owner == o.Canary.Target && other.Desired > 0)
	}
	if scaled {
		o.canaryScaled = true
	} else if o.canaryScaled && o.released {
		o.canaryScaled = false
		o.emit(result.Event{Type: result.CanaryScaledDown, Message: "canary Deployment " + o.Canary.Target + " scaled to 0"})
	}
}

func (o *CanaryObserver) onService(svc *unstructured.Unstructured, deleted bool) {
	if deleted {
		delete(o.snapshot.ServiceWorkloads, svc.GetName())
		return
	}
	selector, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	o.snapshot.ServiceWorkloads[svc.GetName()] = workloadOf(selector)
}

// onVirtualService reads Flagger's VirtualService: its rules, in order,
// with their header matches and mirror, for the data plane; and the
// weights of the rule that routes to the canary host, as Flagger's
// IstioRouter.GetRoutes reads them (FL pkg/router/istio.go:375-466).
func (o *CanaryObserver) onVirtualService(vs *unstructured.Unstructured, deleted bool) {
	if vs.GetName() != o.Canary.Apex || deleted {
		return
	}
	httpRoutes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	var routes []Route
	var rules []dataplane.HTTPRoute
	for _, r := range httpRoutes {
		route, _ := r.(map[string]any)
		rule := dataplane.HTTPRoute{Match: headerMatches(route["match"])}
		destinations, _ := route["route"].([]any)
		canary := false
		for _, d := range destinations {
			destination, _ := d.(map[string]any)
			target, _ := destination["destination"].(map[string]any)
			host, _ := target["host"].(string)
			weight := number(destination["weight"])
			rule.Routes = append(rule.Routes, dataplane.Route{Host: shortHost(host), Weight: int(weight)})
			canary = canary || shortHost(host) == o.Canary.CanaryHost()
		}
		if len(rule.Routes) == 1 {
			// Istio sends all of a rule's traffic to its only destination,
			// whatever its weight: Flagger's A/B rule for plain users names
			// the primary with the primary weight, 0 while the canary is
			// tested (FL pkg/router/istio.go:555-565).
			rule.Routes[0].Weight = 100
		}
		if mirror, ok := route["mirror"].(map[string]any); ok {
			host, _ := mirror["host"].(string)
			rule.Mirror, rule.MirrorPercent = shortHost(host), 100
			if percentage, ok := route["mirrorPercentage"].(map[string]any); ok {
				rule.MirrorPercent = number(percentage["value"])
			}
		}
		rules = append(rules, rule)
		if canary && routes == nil {
			for _, destination := range rule.Routes {
				routes = append(routes, Route{Host: destination.Host, Weight: destination.Weight})
			}
		}
	}
	o.snapshot.Routes, o.snapshot.Rules = routes, rules
}

// headerMatches reads a VirtualService rule's match list: each entry's
// header conditions, all of which must hold. Conditions on anything but
// headers (uri, sourceLabels) are not followed by the data plane.
func headerMatches(value any) [][]dataplane.HeaderMatch {
	list, _ := value.([]any)
	var out [][]dataplane.HeaderMatch
	for _, m := range list {
		match, _ := m.(map[string]any)
		headers, _ := match["headers"].(map[string]any)
		var all []dataplane.HeaderMatch
		for name, h := range headers {
			condition, _ := h.(map[string]any)
			header := dataplane.HeaderMatch{Name: name}
			header.Exact, _ = condition["exact"].(string)
			header.Prefix, _ = condition["prefix"].(string)
			header.Regex, _ = condition["regex"].(string)
			all = append(all, header)
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
		out = append(out, all)
	}
	return out
}

// number reads a JSON number as the informer decoded it.
func number(value any) float64 {
	switch n := value.(type) {
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return 0
}
