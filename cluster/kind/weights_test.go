package kind

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/result"
)

func TestCanaryWeight(t *testing.T) {
	t.Parallel()
	routed := newWeights(cluster.Routing{Routed: true, CanaryKey: "demo-canary", Entry: "demo-stable"}, "canarylab/demo:blue")
	subsets := newWeights(cluster.Routing{Routed: true, CanaryKey: "canary", Entry: "demo-stable"}, "canarylab/demo:blue")
	basic := newWeights(cluster.Routing{Entry: "demo"}, "canarylab/demo:blue")
	replicaSets := map[string]cluster.ReplicaSet{
		"aaa": {Hash: "aaa", Image: "canarylab/demo:blue", Desired: 3, Ready: 3},
		"bbb": {Hash: "bbb", Image: "canarylab/demo:red", Desired: 2, Ready: 1},
	}
	for _, row := range []struct {
		name     string
		weights  *weights
		snapshot cluster.Snapshot
		want     int
		ok       bool
	}{
		{"routed", routed, cluster.Snapshot{Routes: []cluster.Route{{Host: "demo-stable", Weight: 80}, {Host: "demo-canary", Weight: 20}}}, 20, true},
		{"routed, no canary route", routed, cluster.Snapshot{Routes: []cluster.Route{{Host: "demo-stable", Weight: 100}}}, 0, true},
		{"routed, VirtualService not seen", routed, cluster.Snapshot{}, 0, false},
		{"subsets", subsets, cluster.Snapshot{Routes: []cluster.Route{{Host: "stable", Weight: 60}, {Host: "canary", Weight: 40}}}, 40, true},
		{"ready replicas behind the Service", basic, cluster.Snapshot{ReplicaSets: replicaSets, Services: map[string]string{"demo": ""}}, 25, true},
		{"a Service that selects one hash", basic, cluster.Snapshot{ReplicaSets: replicaSets, Services: map[string]string{"demo": "aaa"}}, 0, true},
		{"no ready pods", basic, cluster.Snapshot{ReplicaSets: map[string]cluster.ReplicaSet{"aaa": {Hash: "aaa"}}, Services: map[string]string{"demo": ""}}, 0, true},
		{"Service not seen", basic, cluster.Snapshot{ReplicaSets: replicaSets}, 0, false},
	} {
		weight, ok := row.weights.canaryWeight(row.snapshot)
		if weight != row.want || ok != row.ok {
			t.Errorf("%s: weight %d (%t), want %d (%t)", row.name, weight, ok, row.want, row.ok)
		}
	}
}

// Changes before the release set the starting weight silently; after it
// each change is a WeightChanged event at its time, and the per-second
// series holds the highest weight of each second.
func TestWeightsTimeline(t *testing.T) {
	t.Parallel()
	w := newWeights(cluster.Routing{Routed: true, CanaryKey: "demo-canary"}, "canarylab/demo:blue")
	routes := func(canary int) cluster.Snapshot {
		return cluster.Snapshot{Routes: []cluster.Route{{Host: "demo-stable", Weight: 100 - canary}, {Host: "demo-canary", Weight: canary}}}
	}
	var events []result.Event
	w.observe(0, routes(10)) // left over from an earlier run, before the release
	w.observe(0, routes(0))
	w.release(func(e result.Event) { events = append(events, e) })
	w.observe(1200*time.Millisecond, routes(20))
	w.observe(1500*time.Millisecond, routes(20)) // no change
	w.observe(3100*time.Millisecond, routes(40))
	w.observe(3900*time.Millisecond, routes(0)) // aborted within the second
	w.observe(5*time.Second, cluster.Snapshot{})

	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%s %gs %d", e.Type, e.AtSeconds, *e.CanaryWeight))
	}
	want := []string{"WeightChanged 1.2s 20", "WeightChanged 3.1s 40", "WeightChanged 3.9s 0"}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if series, want := w.perSecond(6), []int{0, 20, 20, 40, 0, 0}; !slices.Equal(series, want) {
		t.Errorf("per second %v, want %v", series, want)
	}
	if w.now() != 0 {
		t.Errorf("weight now %d, want 0", w.now())
	}
}
