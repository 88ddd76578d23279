package kind

import (
	"math"
	"sync"
	"time"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/result"
)

// weights tracks the canary weight as the cluster routes it: with Istio
// routing, the weight of the canary's destination in the VirtualService the
// controller writes; without, the canary's share of the ready endpoints
// behind the entry Service (what kube-proxy and Envoy balance over). It is
// the rule the sim's data plane applies to the same objects
// (sim/dataplane World.CanaryWeight), here read from the observed cluster.
type weights struct {
	routing cluster.Routing
	stable  string // the stable image: any other is the canary

	mu       sync.Mutex
	current  int
	released bool
	emit     func(result.Event)
	// changes after the release, in time order.
	changes []weightChange
	initial int
}

type weightChange struct {
	at     time.Duration
	weight int
}

func newWeights(routing cluster.Routing, stableImage string) *weights {
	return &weights{routing: routing, stable: stableImage}
}

// canaryWeight is the routed canary weight the snapshot shows; ok is false
// when it shows none yet (a routed scenario whose VirtualService has not
// been seen), and the weight stays as it was.
func (w *weights) canaryWeight(s cluster.Snapshot) (weight int, ok bool) {
	if w.routing.Routed {
		if len(s.Routes) == 0 {
			return 0, false
		}
		for _, route := range s.Routes {
			if route.Host == w.routing.CanaryKey {
				return route.Weight, true
			}
		}
		return 0, true
	}
	selector, known := s.Services[w.routing.Entry]
	if !known {
		return 0, false
	}
	canary, total := 0, 0
	for hash, rs := range s.ReplicaSets {
		if selector != "" && selector != hash {
			continue
		}
		total += rs.Ready
		if rs.Image != w.stable {
			canary += rs.Ready
		}
	}
	if total == 0 {
		return 0, true
	}
	return int(math.Round(100 * float64(canary) / float64(total))), true
}

// observe follows a change of the cluster at run time now; after the
// release each change of the weight is a WeightChanged event.
func (w *weights) observe(now time.Duration, s cluster.Snapshot) {
	weight, ok := w.canaryWeight(s)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if weight == w.current {
		return
	}
	w.current = weight
	if !w.released {
		w.initial = weight
		return
	}
	w.changes = append(w.changes, weightChange{now, weight})
	if w.emit != nil {
		w.emit(result.Event{AtSeconds: result.Seconds(now), Type: result.WeightChanged, CanaryWeight: result.IntPtr(weight)})
	}
}

// release starts the timeline: from now on changes are events.
func (w *weights) release(emit func(result.Event)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.released, w.emit, w.initial = true, emit, w.current
}

// now is the current weight.
func (w *weights) now() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// perSecond is the weight of each of the first n seconds of the run: the
// highest weight routed during the second, as the local data plane
// records it, so a step held for a fraction of a second still shows.
func (w *weights) perSecond(n int) []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	series := make([]int, n)
	weight, next := w.initial, 0
	for i := range series {
		end := time.Duration(i+1) * time.Second
		highest := weight
		for next < len(w.changes) && w.changes[next].at < end {
			weight = w.changes[next].weight
			highest = max(highest, weight)
			next++
		}
		series[i] = highest
	}
	return series
}
