package local

import (
	"errors"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/sim/dataplane"
	"github.com/canarylab/canarylab/sim/metricstore"
	"github.com/canarylab/canarylab/sim/vclock"
)

// plane is the sim's data plane running in real time and following the real
// objects: the ReplicaSets' ready pods (which kwok runs), the Services'
// selectors, the DestinationRule's subsets and the VirtualService's
// weights. It serves the Prometheus HTTP API the real AnalysisRuns query.
type plane struct {
	mu    sync.Mutex
	loop  *vclock.Loop
	world *dataplane.World
	store *metricstore.Store
	api   *metricstore.API

	server   *http.Server
	mux      *http.ServeMux
	listener net.Listener
	// URL is the Prometheus address written into the AnalysisTemplates
	// (and the base of the other endpoints a run adds with handle).
	URL string

	// release is the wall time of virtual time 0; zero until the release.
	release time.Time
	// entry receives all traffic without traffic routing.
	entry     string
	canaryKey string
	routed    bool
	// workloads: Services select Deployments' pods by their app label
	// (Flagger), not ReplicaSets by pod-template hash.
	workloads bool

	weights      []int
	secondWeight int
	lastWeight   int
	emit         func(result.Event)
	scrapeErr    error
}

func newPlane() (*plane, error) {
	store, err := metricstore.New()
	if err != nil {
		return nil, err
	}
	p := &plane{store: store, lastWeight: -1}
	p.api = &metricstore.API{Store: store, Lock: &p.mu, Clock: p.virtual}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		return nil, err
	}
	p.listener = listener
	p.URL = "http://" + listener.Addr().String()
	p.mux = http.NewServeMux()
	p.mux.Handle("/", p.api)
	p.server = &http.Server{Handler: p.mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := p.server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.mu.Lock()
			p.scrapeErr = err
			p.mu.Unlock()
		}
	}()
	return p, nil
}

// handle serves another endpoint beside the Prometheus API (Flagger's
// event webhook, the emulated loadtester) under path, and returns its URL.
func (p *plane) handle(path string, handler http.Handler) string {
	p.mux.Handle(path, handler)
	return p.URL + path
}

// virtual is the run time of a wall-clock instant: time since the release.
func (p *plane) virtual(t time.Time) time.Duration {
	if p.release.IsZero() {
		return 0
	}
	return t.Sub(p.release)
}

func (p *plane) now() time.Duration { return p.virtual(time.Now()) }

// start builds the world at the moment of the release: the stable version
// has served the load for the warm-up before it (generated at once, as on
// the sim, so that rate windows have history), then time runs with the wall.
func (p *plane) start(release time.Time, cfg dataplane.Config, snapshot cluster.Snapshot, warmup, scrapeInterval, limit time.Duration, seed int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loop = vclock.New(-warmup)
	p.world = dataplane.New(p.loop, cfg)
	p.applyLocked(snapshot)
	offset := time.Duration(uint64(seed)*7919%uint64(scrapeInterval/time.Millisecond)) * time.Millisecond
	var scrape func()
	scrape = func() {
		p.world.Flush()
		if err := p.world.Telemetry().ScrapeInto(p.store, p.loop.Now()); err != nil && p.scrapeErr == nil {
			p.scrapeErr = err
		}
		if p.loop.Now()+scrapeInterval <= limit {
			p.loop.After(scrapeInterval, scrape)
		}
	}
	p.loop.At(-warmup+offset, scrape)
	var tick func()
	tick = func() {
		p.world.Flush()
		current := p.world.CanaryWeight(p.canaryKey)
		if p.loop.Now() > 0 {
			p.weights = append(p.weights, max(p.secondWeight, current))
		}
		p.secondWeight = current
		if p.loop.Now()+time.Second <= limit {
			p.loop.After(time.Second, tick)
		}
	}
	p.loop.At(0, tick)
	p.loop.RunUntil(0, nil)
	p.release = release
}

// advance runs the world up to the wall clock.
func (p *plane) advance() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.advanceLocked()
}

func (p *plane) advanceLocked() {
	if p.loop == nil {
		return
	}
	if now := p.now(); now > p.loop.Now() {
		p.loop.RunUntil(now, nil)
	}
}

// apply follows a change of the cluster.
func (p *plane) apply(snapshot cluster.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loop == nil {
		return
	}
	p.advanceLocked()
	p.applyLocked(snapshot)
}

func (p *plane) applyLocked(snapshot cluster.Snapshot) {
	if p.workloads {
		p.followWorkloads(snapshot)
	} else {
		p.followReplicaSets(snapshot)
	}
	for name, hash := range snapshot.Subsets {
		p.world.SetService(name, hash)
	}
	if p.workloads && len(snapshot.Rules) > 0 {
		p.world.SetHTTPRoutes(snapshot.Rules)
	} else if p.routed && len(snapshot.Routes) > 0 {
		routes := make([]dataplane.Route, len(snapshot.Routes))
		for i, r := range snapshot.Routes {
			routes[i] = dataplane.Route{Host: r.Host, Weight: r.Weight, Service: r.Service}
		}
		p.world.SetRoutes(routes)
	} else if !p.routed {
		p.world.SetEntry(p.entry)
	}
	if p.release.IsZero() && p.loop.Now() < 0 {
		p.lastWeight = p.canaryWeight(snapshot)
		return
	}
	if weight := p.canaryWeight(snapshot); weight != p.lastWeight {
		p.lastWeight = weight
		p.secondWeight = max(p.secondWeight, weight)
		if p.emit != nil {
			p.emit(result.Event{AtSeconds: result.Seconds(p.loop.Now()), Type: result.WeightChanged, CanaryWeight: result.IntPtr(weight)})
		}
	}
}

// followReplicaSets has the data plane follow a Rollout's ReplicaSets and
// the Services' pod-template-hash selectors.
func (p *plane) followReplicaSets(snapshot cluster.Snapshot) {
	hashes := make([]string, 0, len(snapshot.ReplicaSets))
	for hash := range snapshot.ReplicaSets {
		hashes = append(hashes, hash)
	}
	sort.Strings(hashes)
	for _, hash := range hashes {
		rs := snapshot.ReplicaSets[hash]
		p.world.Observe(rs.Hash, rs.Image, rs.Desired, rs.Ready)
	}
	for _, rs := range p.world.ReplicaSets() {
		if _, ok := snapshot.ReplicaSets[rs.Hash]; !ok && rs.Replicas() > 0 {
			p.world.Observe(rs.Hash, rs.Image, 0, 0) // deleted
		}
	}
	for name, hash := range snapshot.Services {
		p.world.SetService(name, hash)
	}
}

// canaryWeight is the weight WeightChanged reports: the routed weight of
// user traffic, or with Flagger the canary's weight in the rule that
// routes to it, as Flagger's router reads it (an A/B rule sends 100% of
// the matching requests to the canary while plain users see none).
func (p *plane) canaryWeight(snapshot cluster.Snapshot) int {
	if !p.workloads {
		return p.world.CanaryWeight(p.canaryKey)
	}
	for _, route := range snapshot.Routes {
		if route.Host == p.canaryKey {
			return route.Weight
		}
	}
	return 0
}

// with runs fn on the world at the current wall time.
func (p *plane) with(fn func(w *dataplane.World)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loop == nil {
		return
	}
	p.advanceLocked()
	fn(p.world)
}

// err is the data plane's failure: its API server stopped, or a scrape
// failed.
func (p *plane) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.scrapeErr
}

// live is the routed canary weight and the requests and failures of the
// last whole second, by version.
func (p *plane) live() (weight int, requests, failed map[string]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loop == nil {
		return 0, nil, nil
	}
	last := func(series []int64) int64 {
		if len(series) == 0 {
			return 0
		}
		return series[len(series)-1]
	}
	stats := p.world.Stats()
	return p.world.CanaryWeight(p.canaryKey),
		map[string]int64{"stable": last(stats.Requests["stable"]), "canary": last(stats.Requests["canary"])},
		map[string]int64{"stable": last(stats.Errors["stable"]), "canary": last(stats.Errors["canary"])}
}

// finish runs the world to now and returns its request counts and series.
func (p *plane) finish() (result.Requests, *result.Series) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loop == nil {
		return result.Requests{}, nil
	}
	p.advanceLocked()
	stats := p.world.Stats()
	return stats.Counts(), stats.Series(p.weights)
}

func (p *plane) close() {
	p.server.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.store.Close()
}
