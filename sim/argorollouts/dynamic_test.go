package argorollouts

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canarylab/canarylab/internal/testmanifests"

	"github.com/prometheus/common/model"

	api "github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/dataplane"
	"github.com/canarylab/canarylab/sim/vclock"
)

const dynamicRollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 4
  template:
    spec:
      containers: [{name: demo, image: canarylab/demo:blue}]
  strategy:
    canary:
      canaryService: demo-canary
      stableService: demo-stable
      dynamicStableScale: true
      trafficRouting:
        istio:
          virtualService: {name: demo, routes: [primary]}
      steps:
        - setWeight: 25
        - pause: {duration: 10s}
        - setWeight: 50
        - pause: {duration: 10s}
        - setWeight: 75
        - pause: {duration: 10s}
---
` + testmanifests.IstioServices

// modelRun is the controller model on a data plane, with the stable image
// deployed before time 0 and the release at 0.
type modelRun struct {
	loop   *vclock.Loop
	ctrl   *Controller
	events []result.Event
}

func newModelRun(t *testing.T, manifests string) *modelRun {
	t.Helper()
	docs, err := scenario.SplitDocuments("manifests.yaml", []byte(manifests))
	if err != nil {
		t.Fatal(err)
	}
	m, err := api.Decode(docs)
	if err != nil {
		t.Fatal(err)
	}
	r := &modelRun{loop: vclock.New(-time.Minute)}
	world := dataplane.New(r.loop, dataplane.Config{StableImage: "canarylab/demo:blue", Profiles: fixtures.Default(),
		RPS: 10, PodStartLatency: time.Second, Seed: 1, Namespace: m.Namespace, App: m.Rollout.Metadata.Name})
	noMetrics := func(context.Context, string) (model.Value, error) { return model.Vector{}, nil }
	r.ctrl = New(r.loop, world, m, noMetrics, func(e result.Event) {
		e.AtSeconds = result.Seconds(r.loop.Now())
		r.events = append(r.events, e)
	}, DefaultConfig(), "canarylab/demo:blue")
	r.loop.RunUntil(0, nil)
	r.events = nil
	r.ctrl.Release("canarylab/demo:green")
	return r
}

// counts is "weight canary/stable" desired replicas now.
func (r *modelRun) counts() string {
	stable := r.ctrl.world.ReplicaSet(podTemplateHash("canarylab/demo:blue"))
	canary := r.ctrl.world.ReplicaSet(podTemplateHash("canarylab/demo:green"))
	return fmt.Sprintf("%d %d/%d", r.ctrl.RoutedCanaryWeight(), canary.Desired, stable.Desired)
}

// sample runs the model and records each new state of weight and replicas.
func (r *modelRun) sample(until time.Duration) []string {
	var states []string
	for r.loop.Step(until) {
		if state := r.counts(); len(states) == 0 || states[len(states)-1] != state {
			states = append(states, state)
		}
	}
	return states
}

// With dynamicStableScale the stable keeps the pods its traffic needs: it
// is scaled down only once the weight has left it (the weights of the
// previous reconcile), and the old stable goes at the promotion without a
// delay (AR utils/replicaset/canary.go:386-411, rollout/canary.go:115-127,
// 226-229).
func TestDynamicStableScaleFollowsTheWeight(t *testing.T) {
	t.Parallel()
	r := newModelRun(t, dynamicRollout)
	got := strings.Join(r.sample(2*time.Minute), ", ")
	want := "0 0/4, 0 1/4, 25 1/4, 25 1/3, 25 2/3, 50 2/3, 50 2/2, 50 3/2, 75 3/2, 75 3/1, 75 4/1, 100 4/1, 0 4/0"
	if got != want {
		t.Errorf("weight canary/stable:\n got %s\nwant %s", got, want)
	}
	if !r.ctrl.FullyPromoted() || !r.ctrl.Settled {
		t.Errorf("promoted %v, settled %v", r.ctrl.FullyPromoted(), r.ctrl.Settled)
	}
}

// An abort at 50% scales the stable up first; the weight steps back to
// the next lower setWeight once the stable's available pods can take the
// rest, the canary losing pods as the weight leaves it, and the canary
// Service points back at the stable once the weight is 0
// (AR utils/replicaset/canary.go:516-546, rollout/trafficrouting.go:204-215, 357-395).
func TestDynamicStableScaleAbortStepsBack(t *testing.T) {
	t.Parallel()
	r := newModelRun(t, dynamicRollout)
	r.loop.At(22*time.Second, r.ctrl.Abort)
	r.sample(22 * time.Second)
	if state := r.counts(); state != "50 2/2" {
		t.Fatalf("before the abort: %s, want 50 2/2", state)
	}
	got := strings.Join(r.sample(2*time.Minute), ", ")
	want := "50 2/3, 25 1/3, 25 1/4, 0 0/4"
	if got != want {
		t.Errorf("weight canary/stable after the abort:\n got %s\nwant %s", got, want)
	}
	if service := r.ctrl.world.Service("demo-canary"); service.Selector != r.ctrl.stableHash {
		t.Errorf("the canary Service selects %q, want the stable %q", service.Selector, r.ctrl.stableHash)
	}
	var weights []string
	for _, e := range r.events {
		if e.Type == result.WeightChanged {
			weights = append(weights, fmt.Sprintf("%d@%.0f", *e.CanaryWeight, e.AtSeconds))
		}
	}
	// A pod starts in about 3s: 25% once the third stable pod is
	// available, 0% once the fourth is.
	if got := strings.Join(weights, " "); got != "25@3 50@16 25@25 0@28" {
		t.Errorf("weights %s", got)
	}
	if !r.ctrl.Aborted() || !r.ctrl.Settled {
		t.Errorf("aborted %v, settled %v", r.ctrl.Aborted(), r.ctrl.Settled)
	}
}

// Releasing the stable image again mid-update rolls back to the stable
// without overwhelming it: the weight stays on the previous canary, whose
// Service keeps selecting it, until the stable is available at full
// scale (AR utils/rollout/rolloututil.go:25-44, rollout/service.go:272-282).
func TestDynamicStableScaleRollbackToStable(t *testing.T) {
	t.Parallel()
	r := newModelRun(t, dynamicRollout)
	r.loop.At(22*time.Second, func() { r.ctrl.Release("canarylab/demo:blue") })
	r.sample(22 * time.Second)
	canaryHash := podTemplateHash("canarylab/demo:green")
	var sawHeld bool
	for r.loop.Step(2 * time.Minute) {
		if r.ctrl.FullyPromoted() && r.ctrl.available(r.ctrl.stableRS()) < 4 && r.ctrl.RoutedCanaryWeight() > 0 {
			sawHeld = true
			if service := r.ctrl.world.Service("demo-canary"); service.Selector != canaryHash {
				t.Fatalf("while rolling back the canary Service selects %q, want the previous canary %q", service.Selector, canaryHash)
			}
		}
	}
	if !sawHeld {
		t.Error("the weight left the previous canary before the stable was available at full scale")
	}
	if got := r.counts(); got != "0 0/4" {
		t.Errorf("after the rollback: %s, want 0 0/4", got)
	}
}
