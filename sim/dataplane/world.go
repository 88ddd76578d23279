// Package dataplane is the sim's cluster below the controller: ReplicaSets
// and their pods (start-up, crash, loss and replacement), Services, the
// Istio VirtualService routing user traffic, generated load, and the Istio
// telemetry that Prometheus scrapes. The controller models drive it the way
// the real controllers drive a cluster: by scaling ReplicaSets, moving
// Service selectors and writing VirtualService weights.
package dataplane

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/sim/vclock"
)

// Config sets up a world.
type Config struct {
	Namespace string
	// App is the workload name (the Rollout's), used as destination_workload.
	App string
	// StableImage classifies requests as stable (served by it) or canary.
	StableImage string
	Profiles    fixtures.Profiles
	// RPS is the user load through the ingress gateway, as a constant
	// pacer unless Pacer gives another shape.
	RPS float64
	// Pacer shapes the load over time (vegeta's Pacer: its Rate is read at
	// each traffic segment, so cost does not grow with the rate).
	Pacer vegeta.Pacer
	// PodStartLatency is scheduling plus container start before the
	// profile's own start-up time counts.
	PodStartLatency time.Duration
	// CrashBackoff is how long a crashed container waits before restarting.
	CrashBackoff time.Duration
	Seed         uint64
}

// Pod is one pod of a ReplicaSet.
type Pod struct {
	Name    string
	Ready   bool
	ReadyAt time.Duration
	crashed bool
	timer   *vclock.Timer
}

// ReplicaSet is a set of identical pods of one image.
type ReplicaSet struct {
	Name    string
	Hash    string
	Image   string
	Desired int
	Pods    []*Pod
	// MinReadySeconds is how long a pod must be ready to count as available.
	MinReadySeconds time.Duration
	profile         fixtures.Profile
	podSeq          int
}

// ReadyReplicas counts ready pods; with minReadySeconds 0 they are also
// the available ones.
func (rs *ReplicaSet) ReadyReplicas() int {
	ready := 0
	for _, pod := range rs.Pods {
		if pod.Ready {
			ready++
		}
	}
	return ready
}

// AvailableReplicas counts pods ready for at least minReadySeconds at
// now, what the ReplicaSet controller reports as available.
func (rs *ReplicaSet) AvailableReplicas(now time.Duration) int {
	available := 0
	for _, pod := range rs.Pods {
		if pod.Ready && now >= pod.ReadyAt+rs.MinReadySeconds {
			available++
		}
	}
	return available
}

// Replicas counts existing pods.
func (rs *ReplicaSet) Replicas() int { return len(rs.Pods) }

// Service selects the pods of one ReplicaSet by pod-template hash, or every
// pod of the app when Selector is empty.
type Service struct {
	Name     string
	Selector string
}

// Route is one weighted destination of the VirtualService.
type Route struct {
	Host   string
	Weight int
}

// Faults active on the data plane.
type faults struct {
	errorRate map[string]float64       // by target class
	latency   map[string]time.Duration // by target class
	crashLoop map[string]bool
	noTraffic bool
}

// World is the simulated cluster data plane of one run.
type World struct {
	cfg  Config
	loop *vclock.Loop
	rng  *rand.Rand

	replicaSets []*ReplicaSet
	services    map[string]*Service
	// routes is the VirtualService's weighted route; nil without traffic
	// routing, when entry receives all traffic.
	routes []Route
	entry  string

	faults faults

	telemetry *Telemetry
	lastFlush time.Duration
	loadStart time.Duration
	hitsSoFar float64

	// OnPodsChanged is called whenever pod readiness or counts change: the
	// controller's ReplicaSet watch.
	OnPodsChanged func()

	stats     Stats
	latencies map[latencyKey]cachedLatency
}

// New builds an empty world on loop.
func New(loop *vclock.Loop, cfg Config) *World {
	if cfg.CrashBackoff == 0 {
		cfg.CrashBackoff = 10 * time.Second
	}
	w := &World{
		cfg:       cfg,
		loop:      loop,
		rng:       rand.New(rand.NewPCG(cfg.Seed, 0x63616e6172796c61)),
		services:  map[string]*Service{},
		faults:    faults{errorRate: map[string]float64{}, latency: map[string]time.Duration{}, crashLoop: map[string]bool{}},
		lastFlush: loop.Now(),
		latencies: map[latencyKey]cachedLatency{},
	}
	if w.cfg.Pacer == nil {
		// Freq per 1000s keeps fractional rates such as 12.5 rps exact.
		w.cfg.Pacer = vegeta.ConstantPacer{Freq: int(math.Round(cfg.RPS * 1000)), Per: 1000 * time.Second}
	}
	w.loadStart = loop.Now()
	w.telemetry = newTelemetry(cfg.Namespace, cfg.App)
	w.stats.start(loop.Now())
	return w
}

// Telemetry is the Istio metrics the world has produced so far.
func (w *World) Telemetry() *Telemetry { return w.telemetry }

// Class is "stable" for the stable image, "canary" for any other.
func (w *World) Class(image string) string {
	if image == w.cfg.StableImage {
		return "stable"
	}
	return "canary"
}

// ReplicaSet returns the ReplicaSet with a hash, or nil.
func (w *World) ReplicaSet(hash string) *ReplicaSet {
	for _, rs := range w.replicaSets {
		if rs.Hash == hash {
			return rs
		}
	}
	return nil
}

// ReplicaSets lists every ReplicaSet in creation order.
func (w *World) ReplicaSets() []*ReplicaSet { return w.replicaSets }

// CreateReplicaSet adds a ReplicaSet for image at zero replicas.
func (w *World) CreateReplicaSet(hash, image string) *ReplicaSet {
	rs := &ReplicaSet{Name: w.cfg.App + "-" + hash, Hash: hash, Image: image, profile: w.cfg.Profiles[image].WithDefaults()}
	w.replicaSets = append(w.replicaSets, rs)
	return rs
}

// Scale sets a ReplicaSet's desired replicas; the ReplicaSet controller
// creates pods at once and deletes not-ready pods before ready ones, newest
// first (kube's ActivePods ranking, simplified).
func (w *World) Scale(rs *ReplicaSet, replicas int) {
	if rs.Desired == replicas {
		return
	}
	w.Flush()
	rs.Desired = replicas
	w.reconcileReplicaSet(rs)
	w.changed()
}

func (w *World) reconcileReplicaSet(rs *ReplicaSet) {
	for len(rs.Pods) < rs.Desired {
		w.startPod(rs)
	}
	for len(rs.Pods) > rs.Desired {
		victim := len(rs.Pods) - 1
		for i := len(rs.Pods) - 1; i >= 0; i-- {
			if !rs.Pods[i].Ready {
				victim = i
				break
			}
		}
		w.removePod(rs, victim)
	}
}

func (w *World) startPod(rs *ReplicaSet) {
	rs.podSeq++
	pod := &Pod{Name: fmt.Sprintf("%s-%d", rs.Name, rs.podSeq)}
	rs.Pods = append(rs.Pods, pod)
	w.schedulePodStart(rs, pod, w.cfg.PodStartLatency)
}

// schedulePodStart makes pod ready after delay plus the profile's start-up,
// unless the image crashes or a crash-loop fault is active.
func (w *World) schedulePodStart(rs *ReplicaSet, pod *Pod, delay time.Duration) {
	if rs.profile.Crash || w.faults.crashLoop[w.Class(rs.Image)] || w.faults.crashLoop["all"] {
		pod.crashed = true
		return
	}
	pod.crashed = false
	pod.timer = w.loop.After(delay+rs.profile.Startup.Duration, func() {
		w.Flush()
		pod.Ready, pod.ReadyAt = true, w.loop.Now()
		w.changed()
		if rs.MinReadySeconds > 0 {
			// The ReplicaSet's status changes again when the pod turns available.
			pod.timer = w.loop.After(rs.MinReadySeconds, w.changed)
		}
	})
}

func (w *World) removePod(rs *ReplicaSet, index int) {
	pod := rs.Pods[index]
	if pod.timer != nil {
		pod.timer.Stop()
	}
	rs.Pods = append(rs.Pods[:index], rs.Pods[index+1:]...)
}

func (w *World) changed() {
	if w.OnPodsChanged != nil {
		w.OnPodsChanged()
	}
}

// KillPods deletes up to count pods of the target class (ready ones first),
// as `kubectl delete pod` would; their ReplicaSets replace them. It returns
// how many it deleted.
func (w *World) KillPods(target string, count int) int {
	w.Flush()
	killed := 0
	for killed < count {
		var victimRS *ReplicaSet
		victim := -1
		for _, rs := range w.replicaSets {
			if !w.matches(target, rs) {
				continue
			}
			for i, pod := range rs.Pods {
				if victim < 0 || (pod.Ready && !victimRS.Pods[victim].Ready) {
					victimRS, victim = rs, i
				}
			}
		}
		if victim < 0 {
			break
		}
		w.removePod(victimRS, victim)
		killed++
	}
	for _, rs := range w.replicaSets {
		w.reconcileReplicaSet(rs)
	}
	if killed > 0 {
		w.changed()
	}
	return killed
}

func (w *World) matches(target string, rs *ReplicaSet) bool {
	return target == "all" || w.Class(rs.Image) == target
}

// SetCrashLoop makes the target's containers crash (not ready) while on, and
// restart after the crash back-off when it ends.
func (w *World) SetCrashLoop(target string, on bool) {
	w.Flush()
	w.faults.crashLoop[target] = on
	for _, rs := range w.replicaSets {
		if !w.matches(target, rs) {
			continue
		}
		for _, pod := range rs.Pods {
			if on {
				if pod.timer != nil {
					pod.timer.Stop()
				}
				pod.Ready, pod.crashed = false, true
			} else if pod.crashed {
				w.schedulePodStart(rs, pod, w.cfg.CrashBackoff)
			}
		}
	}
	w.changed()
}

// SetErrorInjection adds a server-side error rate to the target's responses
// (the fixture app's fault endpoint); 0 clears it.
func (w *World) SetErrorInjection(target string, rate float64) {
	w.Flush()
	w.faults.errorRate[target] = rate
}

// SetLatencyInjection adds a server-side delay to the target's responses.
func (w *World) SetLatencyInjection(target string, delay time.Duration) {
	w.Flush()
	w.faults.latency[target] = delay
}

// SetNoTraffic stops (or restarts) the user load.
func (w *World) SetNoTraffic(on bool) {
	w.Flush()
	w.faults.noTraffic = on
}

// SetService creates or updates a Service's selector.
func (w *World) SetService(name, selector string) {
	w.Flush()
	if service, ok := w.services[name]; ok {
		service.Selector = selector
		return
	}
	w.services[name] = &Service{Name: name, Selector: selector}
}

// Service returns a Service or nil.
func (w *World) Service(name string) *Service { return w.services[name] }

// SetEntry routes all traffic to one Service (no traffic routing).
func (w *World) SetEntry(service string) {
	w.Flush()
	w.entry = service
	w.routes = nil
}

// SetRoutes writes the VirtualService's weighted destinations.
func (w *World) SetRoutes(routes []Route) {
	w.Flush()
	w.routes = append(w.routes[:0:0], routes...)
}

// Routes returns the VirtualService's current destinations.
func (w *World) Routes() []Route { return append([]Route(nil), w.routes...) }

// endpointShare is one destination of traffic with its share of requests.
type endpointShare struct {
	host  string
	rs    *ReplicaSet // nil: no ready endpoint, the gateway answers 503
	share float64
}

// destinations splits traffic over hosts and ReplicaSets as Envoy would:
// by route weight, then evenly over the ready endpoints of each Service.
func (w *World) destinations() []endpointShare {
	var shares []endpointShare
	add := func(host string, weight float64) {
		service := w.services[host]
		readyTotal := 0
		if service != nil {
			for _, rs := range w.replicaSets {
				if service.Selector == "" || service.Selector == rs.Hash {
					readyTotal += rs.ReadyReplicas()
				}
			}
		}
		if readyTotal == 0 {
			shares = append(shares, endpointShare{host: host, share: weight})
			return
		}
		for _, rs := range w.replicaSets {
			if service.Selector == "" || service.Selector == rs.Hash {
				if ready := rs.ReadyReplicas(); ready > 0 {
					shares = append(shares, endpointShare{host: host, rs: rs, share: weight * float64(ready) / float64(readyTotal)})
				}
			}
		}
	}
	if w.routes == nil {
		if w.entry != "" {
			add(w.entry, 1)
		}
		return shares
	}
	total := 0
	for _, route := range w.routes {
		total += route.Weight
	}
	for _, route := range w.routes {
		if route.Weight > 0 && total > 0 {
			add(route.Host, float64(route.Weight)/float64(total))
		}
	}
	return shares
}

// CanaryWeight is the percentage of traffic routed to the canary: the
// VirtualService weight of hosts whose pods run a canary image, or, without
// traffic routing, the canary share of ready endpoints.
func (w *World) CanaryWeight(canaryHost string) int {
	if w.routes != nil {
		for _, route := range w.routes {
			if route.Host == canaryHost {
				return route.Weight
			}
		}
		return 0
	}
	canary := 0.0
	for _, share := range w.destinations() {
		if share.rs != nil && w.Class(share.rs.Image) == "canary" {
			canary += share.share
		}
	}
	return int(math.Round(canary * 100))
}

// Flush generates the traffic from the last flush up to now under the state
// as it was, so that every change of routing, pods or faults takes effect at
// its exact virtual time.
func (w *World) Flush() {
	now := w.loop.Now()
	for w.lastFlush < now {
		// Cut at whole seconds so the per-second series is exact.
		next := min(now, (w.lastFlush/time.Second+1)*time.Second)
		w.generate(w.lastFlush, next)
		w.lastFlush = next
		if next%time.Second == 0 {
			w.stats.closeSecond(next)
		}
	}
}

func (w *World) generate(from, to time.Duration) {
	if w.faults.noTraffic {
		return
	}
	// The pacer's rate at the segment's middle, times its length: exact for
	// a constant pacer, and segments are at most a second long.
	w.hitsSoFar += w.cfg.Pacer.Rate((from+to)/2-w.loadStart) * (to - from).Seconds()
	n := int64(math.Floor(w.hitsSoFar + 1e-9))
	w.hitsSoFar -= float64(n)
	if n == 0 {
		return
	}
	shares := w.destinations()
	if len(shares) == 0 {
		return
	}
	remaining, mass := n, 1.0
	for i, share := range shares {
		k := remaining
		if i < len(shares)-1 && mass > share.share {
			k = binomial(w.rng, remaining, share.share/mass)
		}
		remaining -= k
		mass -= share.share
		if k > 0 {
			w.serve(share, k, from)
		}
	}
}

// serve answers k requests at one destination and records telemetry.
func (w *World) serve(share endpointShare, k int64, at time.Duration) {
	if share.rs == nil {
		// No healthy upstream: the gateway answers 503 (response flag UH)
		// without reaching a workload.
		w.telemetry.recordNoUpstream(share.host, k)
		w.stats.add(at, w.hostClass(share.host), k, k, nil)
		return
	}
	rs := share.rs
	class := w.Class(rs.Image)
	errorRate := 1 - (1-rs.profile.ErrorRate)*(1-w.injected(w.faults.errorRate, class))
	failed := binomial(w.rng, k, errorRate)
	delay := w.faults.latency[class] + w.faults.latency["all"]
	model, probabilities := w.latency(rs, delay)
	var okBuckets, failedBuckets [20]int64
	multinomial(w.rng, k-failed, probabilities, okBuckets[:])
	multinomial(w.rng, failed, probabilities, failedBuckets[:])
	w.telemetry.record(share.host, "200", k-failed, okBuckets[:], model.meanMs())
	w.telemetry.record(share.host, "500", failed, failedBuckets[:], model.meanMs())
	var buckets [20]int64
	for i := range buckets {
		buckets[i] = okBuckets[i] + failedBuckets[i]
	}
	w.stats.add(at, class, k, failed, buckets[:])
}

// hostClass is the class of the version a Service selects, for requests
// that found no ready endpoint.
func (w *World) hostClass(host string) string {
	if service := w.services[host]; service != nil && service.Selector != "" {
		if rs := w.ReplicaSet(service.Selector); rs != nil {
			return w.Class(rs.Image)
		}
	}
	return "stable"
}

// latency returns the latency model of a ReplicaSet under an added delay
// and its bucket probabilities, computed once per combination.
func (w *World) latency(rs *ReplicaSet, delay time.Duration) (latencyModel, []float64) {
	key := latencyKey{p50: rs.profile.Latency.P50.Duration, p99: rs.profile.Latency.P99.Duration, delay: delay}
	if cached, ok := w.latencies[key]; ok {
		return cached.model, cached.probabilities
	}
	model := newLatencyModel(key.p50, key.p99, delay)
	cached := cachedLatency{model: model, probabilities: model.bucketProbabilities()}
	w.latencies[key] = cached
	return cached.model, cached.probabilities
}

type latencyKey struct{ p50, p99, delay time.Duration }

type cachedLatency struct {
	model         latencyModel
	probabilities []float64
}

func (w *World) injected(rates map[string]float64, class string) float64 {
	return 1 - (1-rates[class])*(1-rates["all"])
}

// Stats are the user-facing request counts.
func (w *World) Stats() *Stats {
	w.Flush()
	return &w.stats
}

// Observe sets a ReplicaSet as a real cluster reports it (the local
// backend, where kwok runs the pods): desired and ready pods, the
// ReplicaSet created if it is new. Pods becoming ready count from now.
func (w *World) Observe(hash, image string, desired, ready int) {
	w.Flush()
	rs := w.ReplicaSet(hash)
	if rs == nil {
		rs = w.CreateReplicaSet(hash, image)
	}
	rs.Desired = desired
	wasReady := rs.ReadyReplicas()
	pods := make([]*Pod, 0, max(desired, ready))
	for i := range max(desired, ready) {
		pod := &Pod{Name: fmt.Sprintf("%s-%d", rs.Name, i), Ready: i < ready, ReadyAt: w.loop.Now()}
		if i < len(rs.Pods) && rs.Pods[i].Ready && pod.Ready && i < wasReady {
			pod.ReadyAt = rs.Pods[i].ReadyAt
		}
		pods = append(pods, pod)
	}
	rs.Pods = pods
}
