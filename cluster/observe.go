package cluster

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/sim/dataplane"
)

// Snapshot is what the cluster shows at one moment: the state the data
// plane follows and the run's end condition reads.
type Snapshot struct {
	// ReplicaSets of the Rollout by pod-template hash.
	ReplicaSets map[string]ReplicaSet
	// Services' pod-template-hash selector by Service name ("" selects all
	// pods of the app).
	Services map[string]string
	// Subsets of DestinationRules: subset name to pod-template hash.
	Subsets map[string]string
	// Routes of the Rollout's managed VirtualService route, by destination
	// (the subset when the route names one, else the host); nil without.
	Routes  []Route
	Rollout RolloutStatus

	// Flagger runs only: the workload each Service selects (the value of
	// its app, name or app.kubernetes.io/name selector), the Canary, and
	// every rule of its VirtualService (Routes are those of the rule that
	// routes to the canary).
	ServiceWorkloads map[string]string
	Canary           CanaryStatus
	Rules            []dataplane.HTTPRoute
}

// ReplicaSet is what the data plane needs of one.
type ReplicaSet struct {
	Name, Hash, Image string
	Desired, Ready    int
	// Flagger runs only: Workload is the pods' selector label value (what
	// Services select), Owner the Deployment (the target or its primary).
	Workload, Owner string
}

// Route is one weighted destination.
type Route struct {
	Host   string
	Weight int
	// Service is the route's host when Host names a DestinationRule
	// subset (what telemetry reports), else "".
	Service string
}

// RolloutStatus is the part of the Rollout's status the run reads.
type RolloutStatus struct {
	Phase, Message           string
	CurrentStepIndex         int
	HasStepIndex             bool
	Steps                    int
	Abort                    bool
	StableRS, CurrentPodHash string
	PauseReasons             []string
	ControllerPause          bool
	SpecPaused               bool
	Image                    string
	// TimedOut is the Progressing condition's ProgressDeadlineExceeded
	// (AR utils/conditions/conditions.go TimedOutReason), with its message.
	TimedOut        bool
	TimedOutMessage string
}

// Observer turns watch events into timeline events and snapshots.
type Observer struct {
	Namespace string
	Rollout   string
	// VirtualService and Routes name the managed route ("" without routing).
	VirtualService string
	ManagedRoutes  []string
	// Container is the released container's index.
	Container int
	// Clock is the time since the release (negative before it).
	Clock func() time.Duration
	// Emit receives each timeline event with its time set.
	Emit func(result.Event)
	// Changed is called after every change of the snapshot, with the lock
	// of the observer held: it must not call back into the observer.
	Changed func(Snapshot)

	mu       sync.Mutex
	snapshot Snapshot
	// what was last reported, to emit transitions only.
	seenRuns     map[string]*runSeen
	pauseStarted bool
	released     bool
	step         int
	stepSeen     bool
	aborted      bool
	promotedHash string
	pausedFor    string
	scaledDown   map[string]bool
	baseHash     string

	// Outcome moments, from the release.
	PromotedAt, AbortedAt, PausedAt *time.Duration
}

type runSeen struct {
	measurements map[string]bool
	done         bool
}

// Start runs informers on the namespace until ctx ends, and returns once
// their caches have synced.
func (o *Observer) Start(ctx context.Context, factory dynamicinformer.DynamicSharedInformerFactory) error {
	o.seenRuns = map[string]*runSeen{}
	o.scaledDown = map[string]bool{}
	o.snapshot = Snapshot{ReplicaSets: map[string]ReplicaSet{}, Services: map[string]string{}, Subsets: map[string]string{}}
	handlers := map[schema.GroupVersionResource]func(*unstructured.Unstructured, bool){
		Rollouts:         o.onRollout,
		AnalysisRuns:     o.onAnalysisRun,
		ReplicaSets:      o.onReplicaSet,
		Services:         o.onService,
		VirtualServices:  o.onVirtualService,
		DestinationRules: o.onDestinationRule,
	}
	return watchAll(ctx, factory, o.Namespace, handlers, func(change func()) {
		o.mu.Lock()
		defer o.mu.Unlock()
		change()
		if o.Changed != nil {
			o.Changed(o.snapshotLocked())
		}
	})
}

// watchAll runs an informer per resource, passing every add, update and
// delete to its handler through apply (which holds the observer's lock),
// and returns once the caches have synced.
func watchAll(ctx context.Context, factory dynamicinformer.DynamicSharedInformerFactory, namespace string,
	handlers map[schema.GroupVersionResource]func(*unstructured.Unstructured, bool), apply func(change func())) error {
	var synced []cache.InformerSynced
	for gvr, handle := range handlers {
		informer := factory.ForResource(gvr).Informer()
		call := func(obj any, deleted bool) {
			if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tombstone.Obj
			}
			if u, ok := obj.(*unstructured.Unstructured); ok {
				apply(func() { handle(u, deleted) })
			}
		}
		_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { call(obj, false) },
			UpdateFunc: func(_, obj any) { call(obj, false) },
			DeleteFunc: func(obj any) { call(obj, true) },
		})
		if err != nil {
			return err
		}
		synced = append(synced, informer.HasSynced)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("watching namespace %s: caches did not sync: %w", namespace, ctx.Err())
	}
	return nil
}

// Snapshot is the current state.
func (o *Observer) Snapshot() Snapshot {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.snapshotLocked()
}

func (o *Observer) snapshotLocked() Snapshot {
	s := o.snapshot
	s.ReplicaSets = make(map[string]ReplicaSet, len(o.snapshot.ReplicaSets))
	for k, v := range o.snapshot.ReplicaSets {
		s.ReplicaSets[k] = v
	}
	s.Services = copyMap(o.snapshot.Services)
	s.Subsets = copyMap(o.snapshot.Subsets)
	s.Routes = append([]Route(nil), o.snapshot.Routes...)
	s.Rollout.PauseReasons = append([]string(nil), o.snapshot.Rollout.PauseReasons...)
	return s
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// MarkReleased records the moment of the release: transitions before it
// (the stable deploy) are not part of the timeline.
func (o *Observer) MarkReleased() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.released = true
	o.baseHash = o.snapshot.Rollout.StableRS
	o.promotedHash = o.snapshot.Rollout.StableRS
	o.stepSeen = false
}

func (o *Observer) emit(event result.Event) {
	if !o.released {
		return
	}
	event.AtSeconds = result.Seconds(o.Clock())
	if o.Emit != nil {
		o.Emit(event)
	}
}

func (o *Observer) now() *time.Duration {
	now := o.Clock()
	return &now
}

func (o *Observer) onRollout(ro *unstructured.Unstructured, deleted bool) {
	if ro.GetName() != o.Rollout || deleted {
		return
	}
	status := RolloutStatus{}
	status.Phase, _, _ = unstructured.NestedString(ro.Object, "status", "phase")
	status.Message, _, _ = unstructured.NestedString(ro.Object, "status", "message")
	index, found, _ := unstructured.NestedInt64(ro.Object, "status", "currentStepIndex")
	status.CurrentStepIndex, status.HasStepIndex = int(index), found
	steps, _, _ := unstructured.NestedSlice(ro.Object, "spec", "strategy", "canary", "steps")
	status.Steps = len(steps)
	status.Abort, _, _ = unstructured.NestedBool(ro.Object, "status", "abort")
	status.StableRS, _, _ = unstructured.NestedString(ro.Object, "status", "stableRS")
	status.CurrentPodHash, _, _ = unstructured.NestedString(ro.Object, "status", "currentPodHash")
	status.ControllerPause, _, _ = unstructured.NestedBool(ro.Object, "status", "controllerPause")
	status.SpecPaused, _, _ = unstructured.NestedBool(ro.Object, "spec", "paused")
	conditions, _, _ := unstructured.NestedSlice(ro.Object, "status", "pauseConditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok {
			status.PauseReasons = append(status.PauseReasons, fmt.Sprint(m["reason"]))
		}
	}
	rolloutConditions, _, _ := unstructured.NestedSlice(ro.Object, "status", "conditions")
	for _, c := range rolloutConditions {
		if m, ok := c.(map[string]any); ok && m["type"] == "Progressing" && m["reason"] == "ProgressDeadlineExceeded" {
			status.TimedOut, status.TimedOutMessage = true, fmt.Sprint(m["message"])
		}
	}
	containers, _, _ := unstructured.NestedSlice(ro.Object, "spec", "template", "spec", "containers")
	if o.Container < len(containers) {
		status.Image, _ = containers[o.Container].(map[string]any)["image"].(string)
	}
	observed, _, _ := unstructured.NestedString(ro.Object, "status", "observedGeneration")
	if observed != strconv.FormatInt(ro.GetGeneration(), 10) {
		// The controller has not reconciled this spec yet: its status
		// describes the previous one.
		o.snapshot.Rollout.Image = status.Image
		return
	}
	previous := o.snapshot.Rollout
	o.snapshot.Rollout = status
	if !o.released {
		return
	}
	o.stepTransitions(previous, status, steps)
	o.pauseTransitions(status, steps)
	fullyPromoted := status.StableRS != "" && status.StableRS == status.CurrentPodHash
	if status.TimedOut && !previous.TimedOut {
		// As the sim records it: the deadline, then any abort it causes.
		o.emit(result.Event{Type: result.RolloutDegraded, Message: "ProgressDeadlineExceeded: " + status.TimedOutMessage})
	}
	if status.Abort && !o.aborted && !fullyPromoted {
		o.aborted = true
		o.AbortedAt = o.now()
		o.PromotedAt, o.PausedAt = nil, nil
		o.emit(result.Event{Type: result.RolloutAborted, Message: status.Message})
	} else if !status.Abort && o.aborted {
		o.aborted = false // retried
		o.AbortedAt = nil
	}
	if status.Phase == "Healthy" && fullyPromoted && status.StableRS != o.promotedHash && !status.Abort {
		o.promotedHash = status.StableRS
		o.PromotedAt, o.PausedAt = o.now(), nil
		o.emit(result.Event{Type: result.RolloutPromoted, Image: status.Image, Message: status.Message})
	}
}

func (o *Observer) stepTransitions(previous, status RolloutStatus, steps []any) {
	if !status.HasStepIndex || status.CurrentPodHash == o.baseHash {
		return
	}
	if !o.stepSeen {
		// The release resets the index to 0: the first step starts.
		o.stepSeen, o.step = true, status.CurrentStepIndex
		if status.CurrentStepIndex < len(steps) {
			o.emit(result.Event{Type: result.StepStarted, Step: result.IntPtr(status.CurrentStepIndex), Message: describeStep(steps[status.CurrentStepIndex])})
		}
		return
	}
	if status.CurrentStepIndex < o.step {
		// A new release or a retry starts the steps again.
		o.step = status.CurrentStepIndex
		if o.step < len(steps) {
			o.emit(result.Event{Type: result.StepStarted, Step: result.IntPtr(o.step), Message: describeStep(steps[o.step])})
		}
		return
	}
	for o.step < status.CurrentStepIndex {
		if o.pauseStarted {
			o.pauseStarted = false
			o.emit(result.Event{Type: result.PauseEnded, Step: result.IntPtr(o.step)})
		}
		o.emit(result.Event{Type: result.StepCompleted, Step: result.IntPtr(o.step),
			Message: fmt.Sprintf("Rollout step %d/%d completed (%s)", o.step+1, len(steps), describeStep(steps[o.step]))})
		o.step++
		if o.step < len(steps) {
			o.emit(result.Event{Type: result.StepStarted, Step: result.IntPtr(o.step), Message: describeStep(steps[o.step])})
		}
	}
}

func (o *Observer) pauseTransitions(status RolloutStatus, steps []any) {
	stepPause := contains(status.PauseReasons, "CanaryPauseStep")
	if stepPause && !o.pauseStarted {
		o.pauseStarted = true
		message := ""
		if status.CurrentStepIndex < len(steps) {
			message = describeStep(steps[status.CurrentStepIndex])
		}
		o.emit(result.Event{Type: result.PauseStarted, Step: result.IntPtr(status.CurrentStepIndex), Message: message})
	}
	// Waiting for a person: an indefinite pause step, an inconclusive
	// analysis, or spec.paused (AR rollout/pause.go; the phase is Paused).
	reason := ""
	switch {
	case contains(status.PauseReasons, "InconclusiveAnalysisRun"):
		reason = "InconclusiveAnalysisRun"
	case stepPause && status.CurrentStepIndex < len(steps) && indefinitePause(steps[status.CurrentStepIndex]):
		reason = "CanaryPauseStep"
	case status.SpecPaused:
		reason = "spec.paused"
	}
	if status.Phase == "Paused" && reason != "" && !status.Abort {
		if o.pausedFor != reason {
			o.pausedFor = reason
			o.PausedAt = o.now()
			o.emit(result.Event{Type: result.RolloutPaused, Message: reason})
		}
		return
	}
	if status.Phase != "Paused" {
		o.pausedFor = ""
		o.PausedAt = nil
	}
}

func indefinitePause(step any) bool {
	m, ok := step.(map[string]any)
	if !ok {
		return false
	}
	pause, ok := m["pause"]
	if !ok {
		return false
	}
	p, _ := pause.(map[string]any)
	_, timed := p["duration"]
	return !timed
}

func describeStep(step any) string {
	m, ok := step.(map[string]any)
	if !ok {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		switch v := m[k].(type) {
		case map[string]any:
			if d, ok := v["duration"]; ok {
				parts = append(parts, fmt.Sprintf("%s %v", k, d))
			} else {
				parts = append(parts, k)
			}
		default:
			parts = append(parts, fmt.Sprintf("%s %v", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (o *Observer) onAnalysisRun(run *unstructured.Unstructured, deleted bool) {
	if deleted {
		return
	}
	seen, ok := o.seenRuns[run.GetName()]
	if !ok {
		seen = &runSeen{measurements: map[string]bool{}}
		o.seenRuns[run.GetName()] = seen
		o.emit(result.Event{Type: result.AnalysisRunStarted, AnalysisRun: run.GetName()})
	}
	results, _, _ := unstructured.NestedSlice(run.Object, "status", "metricResults")
	for _, r := range results {
		metric, _ := r.(map[string]any)
		name, _ := metric["name"].(string)
		measurements, _ := metric["measurements"].([]any)
		for _, m := range measurements {
			measurement, _ := m.(map[string]any)
			phase, _ := measurement["phase"].(string)
			if phase == "" || phase == "Running" || phase == "Pending" {
				continue
			}
			key := name + "|" + fmt.Sprint(measurement["startedAt"]) + "|" + fmt.Sprint(measurement["finishedAt"])
			if seen.measurements[key] {
				continue
			}
			seen.measurements[key] = true
			value, _ := measurement["value"].(string)
			if value == "" {
				value, _ = measurement["message"].(string)
			}
			o.emit(result.Event{Type: result.MeasurementTaken, AnalysisRun: run.GetName(), Metric: name, Phase: phase, Value: value})
		}
	}
	phase, _, _ := unstructured.NestedString(run.Object, "status", "phase")
	switch phase {
	case "Successful", "Failed", "Error", "Inconclusive":
		if !seen.done {
			seen.done = true
			message, _, _ := unstructured.NestedString(run.Object, "status", "message")
			o.emit(result.Event{Type: result.AnalysisRunCompleted, AnalysisRun: run.GetName(), Phase: phase, Message: message})
		}
	}
}

func (o *Observer) onReplicaSet(rs *unstructured.Unstructured, deleted bool) {
	owned := false
	for _, ref := range rs.GetOwnerReferences() {
		if ref.Kind == "Rollout" && ref.Name == o.Rollout {
			owned = true
		}
	}
	if !owned {
		return
	}
	hash := rs.GetLabels()["rollouts-pod-template-hash"]
	if deleted {
		delete(o.snapshot.ReplicaSets, hash)
		return
	}
	desired, _, _ := unstructured.NestedInt64(rs.Object, "spec", "replicas")
	ready, _, _ := unstructured.NestedInt64(rs.Object, "status", "readyReplicas")
	containers, _, _ := unstructured.NestedSlice(rs.Object, "spec", "template", "spec", "containers")
	image := ""
	if o.Container < len(containers) {
		image, _ = containers[o.Container].(map[string]any)["image"].(string)
	}
	previous, existed := o.snapshot.ReplicaSets[hash]
	o.snapshot.ReplicaSets[hash] = ReplicaSet{Name: rs.GetName(), Hash: hash, Image: image, Desired: int(desired), Ready: int(ready)}
	if existed && previous.Desired > 0 && desired == 0 && o.released && !o.scaledDown[hash] {
		o.scaledDown[hash] = true
		o.emit(result.Event{Type: result.CanaryScaledDown, Message: "ReplicaSet " + rs.GetName() + " scaled to 0"})
	}
	if desired > 0 {
		o.scaledDown[hash] = false
	}
}

func (o *Observer) onService(svc *unstructured.Unstructured, deleted bool) {
	if deleted {
		delete(o.snapshot.Services, svc.GetName())
		return
	}
	selector, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	o.snapshot.Services[svc.GetName()] = selector["rollouts-pod-template-hash"]
}

func (o *Observer) onDestinationRule(dr *unstructured.Unstructured, deleted bool) {
	if deleted {
		return
	}
	subsets, _, _ := unstructured.NestedSlice(dr.Object, "spec", "subsets")
	for _, s := range subsets {
		subset, _ := s.(map[string]any)
		name, _ := subset["name"].(string)
		labels, _ := subset["labels"].(map[string]any)
		hash, _ := labels["rollouts-pod-template-hash"].(string)
		o.snapshot.Subsets[name] = hash
	}
}

func (o *Observer) onVirtualService(vs *unstructured.Unstructured, deleted bool) {
	if vs.GetName() != o.VirtualService || deleted {
		return
	}
	httpRoutes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	var routes []Route
	for i, r := range httpRoutes {
		route, _ := r.(map[string]any)
		name, _ := route["name"].(string)
		if len(o.ManagedRoutes) > 0 && !contains(o.ManagedRoutes, name) {
			continue
		}
		if len(o.ManagedRoutes) == 0 && i > 0 {
			continue // a VirtualService with a single unnamed route
		}
		destinations, _ := route["route"].([]any)
		for _, d := range destinations {
			destination, _ := d.(map[string]any)
			target, _ := destination["destination"].(map[string]any)
			host, _ := target["host"].(string)
			service := ""
			if subset, _ := target["subset"].(string); subset != "" {
				host, service = subset, shortHost(host)
			}
			weight := int64(0)
			switch w := destination["weight"].(type) {
			case int64:
				weight = w
			case float64:
				weight = int64(w)
			}
			routes = append(routes, Route{Host: shortHost(host), Weight: int(weight), Service: service})
		}
		break
	}
	o.snapshot.Routes = routes
}

// shortHost strips a Service host's namespace and cluster suffix.
func shortHost(host string) string {
	name, _, _ := strings.Cut(host, ".")
	return name
}
