// Package dataplane is the sim's cluster below the controller: ReplicaSets
// and their pods (start-up, crash, loss and replacement), Services, the
// VirtualService (or TrafficSplit) routing the traffic to the app's host,
// generated user load and loadtester load, and the mesh's telemetry
// (Istio's or Linkerd's) that Prometheus scrapes. The controller models
// drive it the way the real controllers drive a cluster: by scaling
// ReplicaSets, moving Service selectors and writing route weights.
package dataplane

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/sim/vclock"
)

// Config sets up a world.
type Config struct {
	Namespace string
	// App is the workload of CreateReplicaSet's ReplicaSets (the Rollout's
	// name) and of empty Service selectors.
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
	// Mesh is the service mesh whose telemetry the world produces:
	// "" or "istio", or "linkerd".
	Mesh string
	// RoutedHost is the host the route rules apply to (the VirtualService
	// or TrafficSplit apex Service), for loads addressing it; user traffic
	// always takes the route rules. Empty: only user traffic is routed.
	RoutedHost string
	// Port is the Services' port in Linkerd's authority label; 0 is 80.
	Port int
}

// Validate reports every field New cannot work with.
func (c Config) Validate() error {
	var errs []error
	if _, err := newMesh(c); err != nil {
		errs = append(errs, err)
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d: outside 0..65535", c.Port))
	}
	return errors.Join(errs...)
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
	Name string
	Hash string
	// Workload owns the ReplicaSet (Rollout or Deployment): Istio's
	// destination_workload, Linkerd's deployment label.
	Workload string
	Image    string
	Desired  int
	Pods     []*Pod
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

// Service selects the pods of every ReplicaSet of Workload when it is set,
// else of one ReplicaSet by pod-template hash, or every pod of the app
// (Config.App) when Selector is empty.
type Service struct {
	Name     string
	Selector string
	Workload string
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
	// routing is on once route rules are written; without it entry
	// receives all user traffic.
	routing bool
	rules   []HTTPRoute
	regexps map[string]*regexp.Regexp // of the rules' header matches, compiled once
	entry   string

	faults faults

	telemetry *Telemetry
	bounds    []float64 // the mesh's latency buckets
	lastFlush time.Duration
	loadStart time.Duration
	hitsSoFar float64

	loads                       []*activeLoad
	loadTotal, loadFailed       int64
	mirroredTotal, mirrorFailed int64

	// OnPodsChanged is called whenever pod readiness or counts change: the
	// controller's ReplicaSet watch.
	OnPodsChanged func()

	stats     Stats
	latencies map[latencyKey]cachedLatency
}

// New builds an empty world on loop. It panics on a Config that Validate
// rejects: callers validate their input first.
func New(loop *vclock.Loop, cfg Config) *World {
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("dataplane.New: %v", err))
	}
	m, _ := newMesh(cfg) // its error is Validate's
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
	w.telemetry = newTelemetry(m)
	w.bounds = m.bounds()
	w.stats.start(w.bounds)
	return w
}

// Telemetry is the mesh metrics the world has produced so far.
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

// CreateReplicaSet adds a ReplicaSet of the app (Config.App) for image at
// zero replicas.
func (w *World) CreateReplicaSet(hash, image string) *ReplicaSet {
	return w.CreateWorkloadReplicaSet(w.cfg.App, hash, image)
}

// CreateWorkloadReplicaSet adds a ReplicaSet of a workload for image at
// zero replicas. Hashes must be unique in the world: ReplicaSet and
// SetService find ReplicaSets by hash alone.
func (w *World) CreateWorkloadReplicaSet(workload, hash, image string) *ReplicaSet {
	rs := &ReplicaSet{Name: workload + "-" + hash, Hash: hash, Workload: workload, Image: image, profile: w.cfg.Profiles[image].WithDefaults()}
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

// SetNoTraffic stops (or restarts) the user load; loads (AddLoad) go on.
func (w *World) SetNoTraffic(on bool) {
	w.Flush()
	w.faults.noTraffic = on
}

// SetService creates or updates a Service selecting by pod-template hash
// ("" selects every pod of the app).
func (w *World) SetService(name, selector string) {
	w.Flush()
	if service, ok := w.services[name]; ok {
		service.Selector, service.Workload = selector, ""
		return
	}
	w.services[name] = &Service{Name: name, Selector: selector}
}

// SetWorkloadService creates or updates a Service selecting every pod of a
// workload, as a Deployment's app label does.
func (w *World) SetWorkloadService(name, workload string) {
	w.Flush()
	if service, ok := w.services[name]; ok {
		service.Selector, service.Workload = "", workload
		return
	}
	w.services[name] = &Service{Name: name, Workload: workload}
}

// Service returns a Service or nil.
func (w *World) Service(name string) *Service { return w.services[name] }

func (w *World) selects(service *Service, rs *ReplicaSet) bool {
	switch {
	case service.Workload != "":
		return rs.Workload == service.Workload
	case service.Selector == "":
		return rs.Workload == w.cfg.App
	}
	return service.Selector == rs.Hash
}

// hostClass is the class of the version a Service selects, for requests
// that found no ready endpoint: a workload's newest ReplicaSet's.
func (w *World) hostClass(host string) string {
	service := w.services[host]
	switch {
	case service == nil:
	case service.Workload != "":
		for i := len(w.replicaSets) - 1; i >= 0; i-- {
			if rs := w.replicaSets[i]; rs.Workload == service.Workload {
				return w.Class(rs.Image)
			}
		}
	case service.Selector != "":
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
	cached := cachedLatency{model: model, probabilities: model.bucketProbabilities(w.bounds)}
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
