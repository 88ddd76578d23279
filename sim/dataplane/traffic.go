package dataplane

import (
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Load is a load generator's traffic, such as Flagger's loadtester running
// hey or wrk. Its requests come from the flagger-loadtester workload in the
// world's namespace (where Flagger's tutorials deploy it) and are in the
// telemetry and LoadStats, not in Stats, which are what users saw.
type Load struct {
	// Host is the Service addressed. The routed host (Config.RoutedHost)
	// takes the route rules, matched with Headers; any other goes straight
	// to the Service's ready endpoints, bypassing the route weights.
	Host string
	// RPS is a constant rate; with ClosedLoop, a cap on the rate.
	RPS float64
	// Concurrency is the number of closed loops (hey -c); below 1 is 1.
	Concurrency int
	// ClosedLoop sends each loop's next request when its last is answered:
	// the rate is Concurrency over the mean latency of the endpoints hit.
	ClosedLoop bool
	Headers    map[string]string
	// Until is the virtual time the load stops at; 0 runs on.
	Until time.Duration
	// MaxRequests stops the load after that many requests (hey -n); 0 is
	// no limit.
	MaxRequests int64
}

type activeLoad struct {
	Load
	headers map[string]string // lower-case names
	hits    float64           // requests due, not yet sent
	sent    int64
}

func (l *activeLoad) done(now time.Duration) bool {
	return (!l.ClosedLoop && l.RPS <= 0) ||
		(l.Until != 0 && now >= l.Until) ||
		(l.MaxRequests > 0 && l.sent >= l.MaxRequests)
}

// noEndpointMs is how long a client waits for its own proxy's 503 when no
// endpoint is ready: what paces a closed loop that hits none.
const noEndpointMs = 1.0

// AddLoad starts a load now. Loads run side by side and in the order added
// within each stretch of traffic, after the user traffic, so that a seed
// gives one result.
func (w *World) AddLoad(l Load) {
	w.Flush()
	w.loads = append(w.loads, &activeLoad{Load: l, headers: lowerNames(l.Headers)})
}

// lowerNames lower-cases header names, as HTTP/2 sends them.
func lowerNames(headers map[string]string) map[string]string {
	lowered := make(map[string]string, len(headers))
	// Sorted so that names differing only in case resolve the same way every run.
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		lowered[strings.ToLower(name)] = headers[name]
	}
	return lowered
}

// LoadStats counts the requests loads sent and those that failed (5xx).
func (w *World) LoadStats() (total, failed int64) {
	w.Flush()
	return w.loadTotal, w.loadFailed
}

// MirroredStats counts the mirrored copies of requests and those the
// mirror answered with 5xx (discarded, as the proxy discards them).
func (w *World) MirroredStats() (total, failed int64) {
	w.Flush()
	return w.mirroredTotal, w.mirrorFailed
}

// trafficKind is whose requests a batch is, which decides what counts them.
type trafficKind int

const (
	userTraffic trafficKind = iota
	loadTraffic
	mirroredTraffic
)

// traffic is a stream of requests from one client.
type traffic struct {
	kind      trafficKind
	client    client
	authority string // the host the client addressed; "" is the route's host
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
	if !w.faults.noTraffic {
		w.generateUsers(from, to)
	}
	if len(w.loads) > 0 {
		w.generateLoads(from, to)
	}
}

func (w *World) generateUsers(from, to time.Duration) {
	// The pacer's rate at the segment's middle, times its length: exact for
	// a constant pacer, and segments are at most a second long.
	w.hitsSoFar += w.cfg.Pacer.Rate((from+to)/2-w.loadStart) * (to - from).Seconds()
	n := int64(math.Floor(w.hitsSoFar + 1e-9))
	w.hitsSoFar -= float64(n)
	if n == 0 {
		return
	}
	shares, rule := w.destinations("", nil)
	w.send(traffic{kind: userTraffic, client: ingressGateway, authority: w.cfg.RoutedHost}, shares, rule, n, from)
}

func (w *World) generateLoads(from, to time.Duration) {
	kept := w.loads[:0]
	for _, load := range w.loads {
		end := to
		if load.Until != 0 {
			end = min(end, load.Until)
		}
		if end > from {
			w.generateLoad(load, from, end)
		}
		if !load.done(to) {
			kept = append(kept, load)
		}
	}
	clear(w.loads[len(kept):])
	w.loads = kept
}

func (w *World) generateLoad(load *activeLoad, from, to time.Duration) {
	shares, rule := w.destinations(load.Host, load.headers)
	if len(shares) == 0 {
		return
	}
	rate := load.RPS
	if load.ClosedLoop {
		rate = w.closedLoopRate(load, shares)
	}
	load.hits += rate * (to - from).Seconds()
	n := int64(math.Floor(load.hits + 1e-9))
	load.hits -= float64(n)
	if load.MaxRequests > 0 {
		n = min(n, load.MaxRequests-load.sent)
	}
	if n <= 0 {
		return
	}
	load.sent += n
	w.send(traffic{kind: loadTraffic, client: loadtester(w.cfg.Namespace), authority: load.Host}, shares, rule, n, from)
}

// closedLoopRate is Little's law for Concurrency loops that each wait for
// their answer: loops over the share-weighted mean latency, at this
// segment's pods and faults.
func (w *World) closedLoopRate(load *activeLoad, shares []endpointShare) float64 {
	var meanMs, mass float64
	for _, share := range shares {
		ms := noEndpointMs
		if share.rs != nil {
			model, _ := w.latency(share.rs, w.addedDelay(w.Class(share.rs.Image)))
			ms = model.meanMs()
		}
		meanMs += share.share * ms
		mass += share.share
	}
	rate := float64(max(load.Concurrency, 1)) * 1000 / (meanMs / mass)
	if load.RPS > 0 {
		rate = min(rate, load.RPS)
	}
	return rate
}

// send splits n requests over the shares and mirrors the rule's percentage.
func (w *World) send(t traffic, shares []endpointShare, rule *HTTPRoute, n int64, at time.Duration) {
	if len(shares) == 0 {
		return
	}
	w.split(t, shares, n, at)
	if rule == nil || rule.Mirror == "" || rule.MirrorPercent <= 0 {
		return
	}
	mirrored := binomial(w.rng, n, min(rule.MirrorPercent, 100)/100)
	if mirrored == 0 {
		return
	}
	shadow := traffic{kind: mirroredTraffic, client: t.client, authority: rule.Mirror}
	w.split(shadow, w.appendEndpoints(nil, rule.Mirror, 1), mirrored, at)
}

func (w *World) split(t traffic, shares []endpointShare, n int64, at time.Duration) {
	remaining, mass := n, 1.0
	for i, share := range shares {
		k := remaining
		if i < len(shares)-1 && mass > share.share {
			k = binomial(w.rng, remaining, share.share/mass)
		}
		remaining -= k
		mass -= share.share
		if k > 0 {
			w.serve(t, share, k, at)
		}
	}
}

// serve answers k requests at one destination and records telemetry.
func (w *World) serve(t traffic, share endpointShare, k int64, at time.Duration) {
	h := hop{client: t.client, authority: t.authority, service: share.reported}
	if share.rs == nil {
		// Only the client's proxy sees these; a mirror's are not reported.
		if t.kind != mirroredTraffic {
			w.telemetry.record(h, "503", k, nil, 0)
		}
		w.count(t.kind, w.hostClass(share.host), k, k, nil, at)
		return
	}
	rs := share.rs
	h.workload = rs.Workload
	class := w.Class(rs.Image)
	errorRate := 1 - (1-rs.profile.ErrorRate)*(1-w.injected(w.faults.errorRate, class))
	failed := binomial(w.rng, k, errorRate)
	model, probabilities := w.latency(rs, w.addedDelay(class))
	n := len(probabilities)
	var okBuckets, failedBuckets, buckets [maxBuckets]int64
	multinomial(w.rng, k-failed, probabilities, okBuckets[:n])
	multinomial(w.rng, failed, probabilities, failedBuckets[:n])
	w.telemetry.record(h, "200", k-failed, okBuckets[:n], model.meanMs())
	w.telemetry.record(h, "500", failed, failedBuckets[:n], model.meanMs())
	for i := range n {
		buckets[i] = okBuckets[i] + failedBuckets[i]
	}
	w.count(t.kind, class, k, failed, buckets[:n], at)
}

// count adds served requests to the counts of their kind of traffic.
func (w *World) count(kind trafficKind, class string, requests, failed int64, buckets []int64, at time.Duration) {
	switch kind {
	case userTraffic:
		w.stats.add(at, class, requests, failed, buckets)
	case loadTraffic:
		w.loadTotal += requests
		w.loadFailed += failed
	case mirroredTraffic:
		w.mirroredTotal += requests
		w.mirrorFailed += failed
	}
}

func (w *World) addedDelay(class string) time.Duration {
	return w.faults.latency[class] + w.faults.latency["all"]
}
