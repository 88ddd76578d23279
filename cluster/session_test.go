package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/scenario/duration"
)

func dur(d time.Duration) duration.Duration { return duration.Duration{Duration: d} }

// fakePlane's clock moves one second per Advance; it records the faults.
type fakePlane struct {
	mu      sync.Mutex
	now     time.Duration
	faults  []string
	applied []string
}

func (p *fakePlane) Now() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.now
}
func (p *fakePlane) Warm(context.Context) error                                           { return nil }
func (p *fakePlane) Start(context.Context, time.Time, Snapshot, func(result.Event)) error { return nil }
func (p *fakePlane) Follow(Snapshot)                                                      {}
func (p *fakePlane) Advance() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now += time.Second
	return nil
}
func (p *fakePlane) Live() (int, map[string]int64, map[string]int64) {
	return 20, map[string]int64{"stable": 8, "canary": 2}, map[string]int64{"canary": 1}
}
func (p *fakePlane) Finish() (result.Requests, *result.Series) {
	return result.Requests{Total: 10}, &result.Series{StepSeconds: 1}
}
func (p *fakePlane) PodAnnotations(string) map[string]string { return nil }
func (p *fakePlane) record(fault scenario.Fault, on bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, fmt.Sprintf("%s %s at %s", map[bool]string{true: "start", false: "end"}[on], fault, p.now))
	return "injected", nil
}
func (p *fakePlane) CrashLoop(_ context.Context, _ scenario.Target, on bool) (string, error) {
	return p.record(scenario.FaultCrashLoop, on)
}
func (p *fakePlane) ErrorRate(_ context.Context, _ scenario.Target, rate float64) (string, error) {
	return p.record(scenario.FaultErrorInjection, rate > 0)
}
func (p *fakePlane) Latency(_ context.Context, _ scenario.Target, delay time.Duration) (string, error) {
	return p.record(scenario.FaultLatencyInjection, delay > 0)
}
func (p *fakePlane) NoTraffic(_ context.Context, on bool) (string, error) {
	return p.record(scenario.FaultNoTraffic, on)
}
func (p *fakePlane) MetricsOutage(_ context.Context, on bool) (string, error) {
	return p.record(scenario.FaultMetricsOutage, on)
}
func (p *fakePlane) MetricsEmpty(_ context.Context, on bool) (string, error) {
	return p.record(scenario.FaultMetricsEmpty, on)
}
func (p *fakePlane) ControllerDown(_ context.Context, down bool) (string, error) {
	return p.record(scenario.FaultControllerRestart, down)
}

func pod(name, hash string, ready bool) *unstructured.Unstructured {
	status := map[bool]string{true: "True", false: "False"}[ready]
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "default", "labels": map[string]any{"rollouts-pod-template-hash": hash}},
		"status":   map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": status}}}}}
}

// session is a Session in the middle of a run: released, with a stable
// and a canary ReplicaSet observed.
func session(t *testing.T, events []scenario.Event, limit time.Duration, objects ...runtime.Object) (*Session, *fakePlane) {
	t.Helper()
	plane := &fakePlane{}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{Rollouts: "RolloutList", Pods: "PodList"}, objects...)
	sc := &scenario.Scenario{Metadata: scenario.Metadata{Name: "test"}, Spec: scenario.Spec{
		Stable: "canarylab/demo:blue", Release: "canarylab/demo:red", Events: events,
		Load: scenario.Traffic{RPS: 10, Duration: dur(limit)}}}
	s := &Session{Scenario: sc, Backend: "test", Client: client, Plane: plane, Tick: time.Millisecond,
		Manifests: &argorollouts.Manifests{Namespace: "default"}}
	// The Rollout as the manifests have it, which the release applies.
	rollout := rolloutObject(nil, false)
	unstructured.SetNestedSlice(rollout.Object, []any{map[string]any{"name": "demo", "image": sc.Spec.Stable}},
		"spec", "template", "spec", "containers")
	manifest, err := NewObject(rollout, "test.yaml:1")
	if err != nil {
		t.Fatal(err)
	}
	s.Driver = &Driver{Client: client, Namespace: "default", Rollout: "demo", Objects: []Object{manifest}}
	// The fake client has no server-side apply: the release's apply of the
	// Rollout is recorded instead.
	client.PrependReactor("patch", "rollouts", func(action clienttesting.Action) (bool, runtime.Object, error) {
		patch, ok := action.(clienttesting.PatchAction)
		if !ok || patch.GetPatchType() != types.ApplyPatchType {
			return false, nil, nil
		}
		plane.mu.Lock()
		defer plane.mu.Unlock()
		plane.applied = append(plane.applied, fmt.Sprintf("apply at %s: %s", plane.now, patch.GetPatch()))
		return true, rollout, nil
	})
	s.Observer = &Observer{Namespace: "default", Rollout: "demo", Clock: plane.Now, Emit: s.Emit}
	s.Observer.snapshot = Snapshot{ReplicaSets: map[string]ReplicaSet{
		"aaa": {Name: "demo-aaa", Hash: "aaa", Image: "canarylab/demo:blue", Desired: 2, Ready: 2},
		"bbb": {Name: "demo-bbb", Hash: "bbb", Image: "canarylab/demo:red", Desired: 1, Ready: 1},
	}, Rollout: RolloutStatus{StableRS: "aaa", CurrentPodHash: "bbb", Phase: "Progressing"}}
	return s, plane
}

// The loop applies every timed event at its time, the plane's faults on
// the plane and pod-kill on the cluster, takes live actions, runs to the
// limit when the rollout does not settle, and the result is in time order.
func TestSessionLoop(t *testing.T) {
	t.Parallel()
	rate := 0.5
	events := []scenario.Event{
		{At: dur(4 * time.Second), Action: scenario.ActionAbort},
		{At: dur(2 * time.Second), Fault: scenario.FaultErrorInjection, Rate: &rate, Target: "canary", For: dur(3 * time.Second)},
		{At: dur(time.Second), Fault: scenario.FaultPodKill, Target: "canary", Count: 1},
	}
	rollout := rolloutObject(map[string]any{"currentStepIndex": int64(0)}, false)
	s, plane := session(t, events, 8*time.Second, rollout,
		pod("demo-bbb-1", "bbb", false), pod("demo-bbb-2", "bbb", true), pod("demo-aaa-1", "aaa", true))
	actions := make(chan scenario.Event, 1)
	actions <- scenario.Event{Action: scenario.ActionRetry}
	var states []runner.State
	s.Options = runner.Options{Actions: actions, State: func(_ string, state runner.State) { states = append(states, state) }}

	if err := s.loop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if now := plane.Now(); now != 8*time.Second {
		t.Errorf("the loop ended at %s, want the limit 8s", now)
	}
	if got := strings.Join(plane.faults, "; "); got != "start error-injection at 2s; end error-injection at 5s" {
		t.Errorf("plane faults: %s", got)
	}
	// The release applied the Rollout with the release's image, at the
	// first step (1s on the fake clock).
	if len(plane.applied) != 1 || !strings.Contains(plane.applied[0], "apply at 1s") || !strings.Contains(plane.applied[0], `"image":"canarylab/demo:red"`) {
		t.Errorf("applied: %q, want one apply of the release's image", plane.applied)
	}
	// pod-kill deleted the ready canary pod first, and only one.
	list, err := s.Client.Resource(Pods).Namespace("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, p := range list.Items {
		left = append(left, p.GetName())
	}
	if strings.Join(left, ",") != "demo-aaa-1,demo-bbb-1" {
		t.Errorf("pods left: %v, want the ready canary pod deleted", left)
	}
	// The live retry was applied at once, the timed abort at 4s.
	if status := getStatus(t, s.Driver); status["abort"] != true {
		t.Errorf("status after the abort at 4s: %v", status)
	}
	res := s.result()
	var timeline []string
	for _, e := range res.Events {
		timeline = append(timeline, fmt.Sprintf("%gs %s %s%s %s", e.AtSeconds, e.Type, e.Action, e.Fault, e.Message))
	}
	// The pod-kill due at 1s runs before the loop takes the live action.
	want := []string{"0s ReleaseStarted  ", "1s FaultStarted pod-kill deleted 1 canary pod", "1s ActionApplied retry ", "2s FaultStarted error-injection injected",
		"4s ActionApplied abort ", "5s FaultEnded error-injection "}
	if strings.Join(timeline, "|") != strings.Join(want, "|") {
		t.Errorf("timeline:\n got %q\nwant %q", timeline, want)
	}
	if res.Outcome.Result != scenario.OutcomeDegraded || res.Outcome.AtSeconds != 8 || res.Backend != "test" || res.Requests.Total != 10 {
		t.Errorf("result: outcome %+v, backend %q, requests %+v", res.Outcome, res.Backend, res.Requests)
	}
	// One live state per second of run time, from the plane and the observer.
	if len(states) != 8 || states[0].AtSeconds != 1 || states[0].CanaryWeight != 20 || states[0].Requests["canary"] != 2 ||
		states[0].Images["canary"] != "" {
		t.Errorf("%d live states, first %+v", len(states), states[0])
	}
}

// A rollout that is promoted and settled ends the run once no timed event
// is to come; one that is promoted but still scaling the old version down
// does not.
func TestSessionEndsWhenSettled(t *testing.T) {
	t.Parallel()
	s, plane := session(t, []scenario.Event{{At: dur(3 * time.Second), Fault: scenario.FaultNoTraffic}}, time.Minute)
	promoted := time.Second
	s.Observer.PromotedAt = &promoted
	s.Observer.snapshot.Rollout = RolloutStatus{Phase: "Healthy", StableRS: "bbb", CurrentPodHash: "bbb"}
	if _, _, settled := s.Outcome(); settled {
		t.Error("settled while the old ReplicaSet still has replicas")
	}
	s.Observer.snapshot.ReplicaSets["aaa"] = ReplicaSet{Hash: "aaa", Image: "canarylab/demo:blue"}
	if err := s.loop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if now := plane.Now(); now != 4*time.Second {
		t.Errorf("the run ended at %s, want 4s (the first step past the last timed event at 3s)", now)
	}
	if outcome := s.engine.Outcome(); outcome.Result != scenario.OutcomePromoted || outcome.AtSeconds != 1 {
		t.Errorf("outcome %+v, want promoted at 1s", outcome)
	}
}

func TestSessionLoopInterrupted(t *testing.T) {
	t.Parallel()
	s, _ := session(t, nil, time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.loop(ctx); err == nil || !strings.Contains(err.Error(), "run interrupted at 0s") {
		t.Errorf("err = %v, want the interruption with its time", err)
	}
}

func TestRoutingOf(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]Routing{
		"../scenarios/canary-demo-promoted.yaml":              {Routed: true, VirtualService: "demo", ManagedRoutes: []string{"primary"}, CanaryKey: "demo-canary", Entry: "demo-stable"},
		"../scenarios/basic-canary-promoted.yaml":             {Entry: "demo"},
		"../conformance/destinationrule-subsets-promote.yaml": {Routed: true, VirtualService: "demo", ManagedRoutes: []string{"primary"}, CanaryKey: "canary", Entry: "demo-stable"},
	} {
		sc := load(t, path)
		m, err := argorollouts.Decode(sc.Documents)
		if err != nil {
			t.Fatal(err)
		}
		if got := RoutingOf(m); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: routing %+v, want %+v", path, got, want)
		}
	}
}

// A live fault joins the loop's queue: its end is applied by the loop at
// its time, and an end due after the run is never applied (there is no
// timer to outlive the run).
func TestLiveFaultsEndInTheLoop(t *testing.T) {
	t.Parallel()
	s, plane := session(t, nil, 6*time.Second)
	actions := make(chan scenario.Event, 2)
	actions <- scenario.Event{Fault: scenario.FaultNoTraffic, For: dur(2 * time.Second), Target: "canary"}
	actions <- scenario.Event{Fault: scenario.FaultMetricsOutage, For: dur(time.Hour), Target: "canary"}
	s.Options = runner.Options{Actions: actions}
	if err := s.loop(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(plane.faults, "; ")
	// Both were waiting when the loop looked: taken at once, at 1s.
	want := "start no-traffic at 1s; start metrics-outage at 1s; end no-traffic at 3s"
	if got != want {
		t.Errorf("plane faults:\n got %s\nwant %s", got, want)
	}
}
