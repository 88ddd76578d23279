package dataplane

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/scenario/duration"
	"github.com/canarylab/canarylab/sim/metricstore"
	"github.com/canarylab/canarylab/sim/vclock"
)

// abRules send requests with x-canary: insider to the canary and all
// others, users' included, to the primary.
var abRules = []HTTPRoute{
	{Match: [][]HeaderMatch{{{Name: "x-canary", Exact: "insider"}}}, Routes: []Route{{Host: "podinfo-canary", Weight: 100}}},
	{Routes: []Route{{Host: "podinfo-primary", Weight: 100}}},
}

func TestLoadGoesWhereItsHostSends(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		load         Load
		noCanaryPod  bool
		wantWorkload string // "" for none: the loadtester's proxy answers 503
	}{
		{name: "the canary Service bypasses the route weights", load: Load{Host: "podinfo-canary", RPS: 10}, wantWorkload: "podinfo"},
		{name: "the routed host takes the route rules", load: Load{Host: "podinfo", RPS: 10}, wantWorkload: "podinfo-primary"},
		{name: "a matching header takes the A/B rule", load: Load{Host: "podinfo", RPS: 10, Headers: map[string]string{"X-Canary": "insider"}}, wantWorkload: "podinfo"},
		{name: "a header that does not match falls through", load: Load{Host: "podinfo", RPS: 10, Headers: map[string]string{"x-canary": "outsider"}}, wantWorkload: "podinfo-primary"},
		{name: "headers do not route a Service that is not routed", load: Load{Host: "podinfo-primary", RPS: 10, Headers: map[string]string{"x-canary": "insider"}}, wantWorkload: "podinfo-primary"},
		{name: "no ready canary pod", load: Load{Host: "podinfo-canary", RPS: 10}, noCanaryPod: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPodinfo(Config{RPS: 50})
			p.world.SetHTTPRoutes(abRules)
			if tc.noCanaryPod {
				p.world.Scale(p.canary, 0)
			}
			p.world.AddLoad(tc.load)
			p.loop.RunUntil(time.Minute, nil)
			stats := p.world.Stats()
			total, failed := p.world.LoadStats()
			samples := p.world.Telemetry().Scrape()

			if users := stats.Sum(stats.Total); users != 3000 || stats.Total["canary"] != 0 {
				t.Errorf("users made %d requests, %d to the canary: want 3000, all to the primary", users, stats.Total["canary"])
			}
			if total != 600 {
				t.Errorf("the load sent %d requests, want 600", total)
			}
			fromLoadtester := []string{"source_workload", "flagger-loadtester", "source_workload_namespace", "test"}
			if tc.wantWorkload == "" {
				unserved := sumSeries(samples, "istio_requests_total", append(fromLoadtester, "reporter", "source", "response_flags", "UH", "response_code", "503")...)
				if failed != total || unserved != float64(total) {
					t.Errorf("%d of %d failed, %v reported as 503 UH: want all", failed, total, unserved)
				}
				return
			}
			served := sumSeries(samples, "istio_requests_total", append(fromLoadtester, "reporter", "destination", "destination_workload", tc.wantWorkload)...)
			if served != float64(total) {
				t.Errorf("%v of %d load requests reached %s", served, total, tc.wantWorkload)
			}
		})
	}
}

func TestClosedLoopRateFollowsLatency(t *testing.T) {
	t.Parallel()
	// Constant latencies (p50 = p99): the primary 50ms, the canary 150ms.
	fixed := func(ms time.Duration) fixtures.Profile {
		return fixtures.Profile{Latency: fixtures.Latency{P50: duration.Of(ms * time.Millisecond), P99: duration.Of(ms * time.Millisecond)}, Startup: duration.Ptr(time.Millisecond)}
	}
	profiles := fixtures.Profiles{"v1": fixed(50), "v2": fixed(150)}
	for _, tc := range []struct {
		name      string
		load      Load
		injected  time.Duration // added to the canary's responses
		noCanary  bool
		perSecond float64
	}{
		{name: "4 loops at 50ms", load: Load{Host: "podinfo-primary", ClosedLoop: true, Concurrency: 4}, perSecond: 80},
		{name: "no concurrency is one loop", load: Load{Host: "podinfo-primary", ClosedLoop: true}, perSecond: 20},
		{name: "injected latency slows it", load: Load{Host: "podinfo-canary", ClosedLoop: true, Concurrency: 3}, injected: 50 * time.Millisecond, perSecond: 15},
		{name: "RPS caps it", load: Load{Host: "podinfo-primary", ClosedLoop: true, Concurrency: 4, RPS: 30}, perSecond: 30},
		{name: "routes weigh the mean latency", load: Load{Host: "podinfo", ClosedLoop: true, Concurrency: 10}, perSecond: 100},
		{name: "no endpoint answers at once", load: Load{Host: "podinfo-canary", ClosedLoop: true, Concurrency: 2}, noCanary: true, perSecond: 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPodinfo(Config{Profiles: profiles})
			p.loop.RunUntil(time.Second, nil)
			p.world.SetLatencyInjection("canary", tc.injected)
			if tc.noCanary {
				p.world.Scale(p.canary, 0)
			}
			p.world.AddLoad(tc.load)
			p.loop.RunUntil(11*time.Second, nil)
			total, _ := p.world.LoadStats()
			if want := 10 * tc.perSecond; math.Abs(float64(total)-want) > 1 {
				t.Errorf("sent %d requests in 10s, want %v", total, want)
			}
		})
	}
}

func TestLoadsStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		loads []Load
		want  int64
	}{
		{name: "MaxRequests", loads: []Load{{Host: "podinfo-canary", RPS: 100, MaxRequests: 250}}, want: 250},
		{name: "Until mid-second", loads: []Load{{Host: "podinfo-canary", RPS: 10, Until: 12500 * time.Millisecond}}, want: 25},
		{name: "MaxRequests before Until", loads: []Load{{Host: "podinfo-canary", RPS: 10, Until: 30 * time.Second, MaxRequests: 42}}, want: 42},
		{name: "closed loop MaxRequests", loads: []Load{{Host: "podinfo-primary", ClosedLoop: true, Concurrency: 8, MaxRequests: 1000}}, want: 1000},
		{name: "no rate", loads: []Load{{Host: "podinfo-canary"}}, want: 0},
		{name: "side by side", loads: []Load{{Host: "podinfo-canary", RPS: 5, Until: 20 * time.Second}, {Host: "podinfo", RPS: 7, MaxRequests: 21}}, want: 71},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPodinfo(Config{})
			p.loop.RunUntil(10*time.Second, nil)
			for _, load := range tc.loads {
				p.world.AddLoad(load)
			}
			p.loop.RunUntil(time.Minute, nil)
			if total, _ := p.world.LoadStats(); total != tc.want {
				t.Errorf("sent %d requests, want %d", total, tc.want)
			}
			if len(p.world.loads) != 0 {
				t.Errorf("%d loads still active after they ended", len(p.world.loads))
			}
		})
	}
}

func TestHeaderMatching(t *testing.T) {
	t.Parallel()
	world := New(vclock.New(0), Config{Namespace: "test", App: "podinfo"})
	world.SetHTTPRoutes([]HTTPRoute{
		{Match: [][]HeaderMatch{
			{{Name: "x-user", Exact: "a"}, {Name: "x-region", Prefix: "eu-"}},
			{{Name: "cookie", Regex: "^(.*?;)?(type=insider)(;.*)?$"}},
		}, Routes: []Route{{Host: "or-of-ands", Weight: 100}}},
		{Match: [][]HeaderMatch{{{Name: "x-zone", Regex: "eu"}}}, Routes: []Route{{Host: "anchored", Weight: 100}}},
		{Match: [][]HeaderMatch{{{Name: "x-bad", Regex: "("}}}, Routes: []Route{{Host: "invalid", Weight: 100}}},
		{Match: [][]HeaderMatch{{{Name: "x-present"}}}, Routes: []Route{{Host: "present", Weight: 100}}},
		{Routes: []Route{{Host: "primary", Weight: 80}, {Host: "canary", Weight: 20}}},
	})
	for _, tc := range []struct {
		headers map[string]string
		want    string
	}{
		{headers: nil, want: "primary"},
		{headers: map[string]string{"x-user": "a"}, want: "primary"},
		{headers: map[string]string{"x-user": "a", "x-region": "eu-west"}, want: "or-of-ands"},
		{headers: map[string]string{"X-User": "a", "X-REGION": "eu-1"}, want: "or-of-ands"},
		{headers: map[string]string{"x-user": "ab", "x-region": "eu-west"}, want: "primary"},
		{headers: map[string]string{"Cookie": "session=1;type=insider"}, want: "or-of-ands"},
		{headers: map[string]string{"cookie": "type=insiders"}, want: "primary"},
		{headers: map[string]string{"x-zone": "eu-west"}, want: "primary"},
		{headers: map[string]string{"x-zone": "eu"}, want: "anchored"},
		{headers: map[string]string{"x-bad": "("}, want: "primary"},
		{headers: map[string]string{"X-Present": ""}, want: "present"},
	} {
		rule := world.matchRule(lowerNames(tc.headers))
		if rule == nil || rule.Routes[0].Host != tc.want {
			t.Errorf("%v took %+v, want the rule to %s", tc.headers, rule, tc.want)
		}
	}
	if routes := world.Routes(); !reflect.DeepEqual(routes, []Route{{Host: "primary", Weight: 80}, {Host: "canary", Weight: 20}}) {
		t.Errorf("Routes() = %v, want the catch-all rule's that users take", routes)
	}
	if weight := world.CanaryWeight("canary"); weight != 20 {
		t.Errorf("canary weight %d, want 20", weight)
	}

	world.SetHTTPRoutes(abRules[:1])
	if routes, weight := world.Routes(), world.CanaryWeight("podinfo-canary"); routes != nil || weight != 0 {
		t.Errorf("with no rule for users: routes %v, canary weight %d; want none", routes, weight)
	}
}

func TestMirroring(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		percent float64
		want    float64 // mirrored share of the routed requests
	}{{percent: 30, want: 0.3}, {percent: 100, want: 1}, {percent: 0, want: 0}} {
		p := newPodinfo(Config{RPS: 1000})
		warmup := p.world.Telemetry().Scrape()
		p.world.SetHTTPRoutes([]HTTPRoute{{Routes: []Route{{Host: "podinfo-primary", Weight: 100}}, Mirror: "podinfo-canary", MirrorPercent: tc.percent}})
		p.world.AddLoad(Load{Host: "podinfo", RPS: 100})
		p.loop.RunUntil(time.Minute, nil)
		stats := p.world.Stats()
		loadTotal, _ := p.world.LoadStats()
		mirrored, mirrorFailed := p.world.MirroredStats()
		samples := p.world.Telemetry().Scrape()

		if stats.Sum(stats.Total) != 60000 || stats.Total["canary"] != 0 || loadTotal != 6000 {
			t.Errorf("%v%%: %d user requests (%d canary), %d load requests: want 60000 (0) and 6000, mirrors uncounted",
				tc.percent, stats.Sum(stats.Total), stats.Total["canary"], loadTotal)
		}
		want := tc.want * 66000
		if math.Abs(float64(mirrored)-want) > 0.02*want {
			t.Errorf("%v%%: mirrored %d requests, want %v", tc.percent, mirrored, want)
		}
		// The canary fails a fifth; its answers are discarded, not failures anyone saw.
		if math.Abs(float64(mirrorFailed)-0.2*want) > 0.1*0.2*want+1 || stats.Sum(stats.Failed) > 1200 {
			t.Errorf("%v%%: %d mirrored failed, %d user requests failed", tc.percent, mirrorFailed, stats.Sum(stats.Failed))
		}
		atCanary := sumSeries(samples, "istio_requests_total", "reporter", "destination", "destination_workload", "podinfo") -
			sumSeries(warmup, "istio_requests_total", "reporter", "destination", "destination_workload", "podinfo")
		fromLoadtester := sumSeries(samples, "istio_requests_total", "reporter", "destination", "destination_workload", "podinfo", "source_workload", "flagger-loadtester")
		if atCanary != float64(mirrored) || math.Abs(fromLoadtester-tc.want*6000) > 0.07*tc.want*6000 {
			t.Errorf("%v%%: the canary reported %v requests, %v from the loadtester; want %d mirrored, %v of them", tc.percent, atCanary, fromLoadtester, mirrored, tc.want*6000)
		}
	}
}

func TestWorkloadServiceSelectsEveryReplicaSetOfItsWorkload(t *testing.T) {
	t.Parallel()
	loop := vclock.New(0)
	world := New(loop, Config{Namespace: "test", App: "podinfo", StableImage: "v1", RPS: 1000, Seed: 2, Profiles: podinfoProfiles})
	primary := world.CreateWorkloadReplicaSet("podinfo-primary", "p1", "v1")
	// The canary Deployment mid-update: its old and new ReplicaSets.
	old, next := world.CreateWorkloadReplicaSet("podinfo", "c1", "v1"), world.CreateWorkloadReplicaSet("podinfo", "c2", "v2")
	world.Scale(primary, 4)
	world.Scale(old, 1)
	world.Scale(next, 3)
	world.SetWorkloadService("podinfo-canary", "podinfo")
	world.SetService("every-app-pod", "")
	world.SetRoutes([]Route{{Host: "podinfo-canary", Weight: 100}})
	world.AddLoad(Load{Host: "every-app-pod", RPS: 100})
	loop.RunUntil(time.Minute, nil)
	stats := world.Stats()
	world.Flush()
	samples := world.Telemetry().Scrape()

	if share := float64(stats.Total["canary"]) / float64(stats.Sum(stats.Total)); math.Abs(share-0.75) > 0.02 {
		t.Errorf("the new ReplicaSet got %.3f of the Service's requests, want 0.75 (3 of 4 pods)", share)
	}
	if atPrimary := sumSeries(samples, "istio_requests_total", "destination_workload", "podinfo-primary"); atPrimary != 0 {
		t.Errorf("%v requests reached the primary through services of the canary workload and the app", atPrimary)
	}

	world.Scale(old, 0)
	world.Scale(next, 0)
	before := stats.Failed["canary"]
	loop.RunUntil(2*time.Minute, nil)
	if failed := world.Stats().Failed["canary"] - before; failed < 59000 {
		t.Errorf("%d requests failed as the canary's with no pod, want about 60000", failed)
	}

	world.SetService("podinfo-canary", "p1")
	if service := world.Service("podinfo-canary"); service.Workload != "" || service.Selector != "p1" {
		t.Errorf("SetService left %+v, want selection by hash p1", service)
	}
}

// Same seed, same telemetry and counts, with loads, rules and mirrors.
func TestSameSeedSameTraffic(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) ([]metricstore.Sample, [3]int64) {
		p := newPodinfo(Config{Mesh: MeshLinkerd, RPS: 500, Seed: seed})
		rules := append([]HTTPRoute(nil), abRules...)
		rules[1].Mirror, rules[1].MirrorPercent = "podinfo-canary", 50
		p.world.SetHTTPRoutes(rules)
		p.world.AddLoad(Load{Host: "podinfo", RPS: 20, Headers: map[string]string{"x-canary": "insider"}})
		p.world.AddLoad(Load{Host: "podinfo-canary", ClosedLoop: true, Concurrency: 2})
		p.loop.RunUntil(30*time.Second, nil)
		loads, _ := p.world.LoadStats()
		mirrored, _ := p.world.MirroredStats()
		return p.world.Telemetry().Scrape(), [3]int64{p.world.Stats().Sum(p.world.Stats().Failed), loads, mirrored}
	}
	values := func(samples []metricstore.Sample) []float64 {
		var out []float64
		for _, sample := range samples {
			out = append(out, sample.Value)
		}
		return out
	}
	first, firstCounts := run(7)
	second, secondCounts := run(7)
	other, _ := run(8)
	if !reflect.DeepEqual(values(first), values(second)) || firstCounts != secondCounts {
		t.Error("two runs with one seed differ")
	}
	if reflect.DeepEqual(values(first), values(other)) {
		t.Error("two seeds gave the same telemetry")
	}
}

// BenchmarkTrafficSecond is one simulated second of traffic: its cost must
// not grow with the request rate.
func BenchmarkTrafficSecond(b *testing.B) {
	for _, bc := range []struct {
		name  string
		mesh  string
		rps   float64
		loads bool
	}{
		{name: "istio-users-1k", rps: 1000},
		{name: "istio-users-100k", rps: 100_000},
		{name: "linkerd-loads-mirror-1k", mesh: MeshLinkerd, rps: 1000, loads: true},
		{name: "linkerd-loads-mirror-100k", mesh: MeshLinkerd, rps: 100_000, loads: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newPodinfo(Config{Mesh: bc.mesh, RPS: bc.rps})
			if bc.loads {
				rules := append([]HTTPRoute(nil), abRules...)
				rules[1].Mirror, rules[1].MirrorPercent = "podinfo-canary", 10
				p.world.SetHTTPRoutes(rules)
				p.world.AddLoad(Load{Host: "podinfo", RPS: bc.rps / 10, Headers: map[string]string{"x-canary": "insider"}})
				p.world.AddLoad(Load{Host: "podinfo-canary", ClosedLoop: true, Concurrency: 100})
			}
			b.ReportAllocs()
			for b.Loop() {
				p.loop.RunUntil(p.loop.Now()+time.Second, nil)
				p.world.Flush()
			}
		})
	}
}
