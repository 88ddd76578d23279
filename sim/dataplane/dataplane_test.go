package dataplane

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/sim/metricstore"
	"github.com/canarylab/canarylab/sim/vclock"
)

func TestBinomialMeanAndBounds(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		n int64
		p float64
	}{{10, 0.3}, {1000, 0.005}, {100000, 0.05}, {100000, 0.9}} {
		var sum float64
		const draws = 2000
		for range draws {
			k := binomial(rng, tc.n, tc.p)
			if k < 0 || k > tc.n {
				t.Fatalf("Binomial(%d, %v) drew %d", tc.n, tc.p, k)
			}
			sum += float64(k)
		}
		mean, want := sum/draws, float64(tc.n)*tc.p
		stderr := math.Sqrt(float64(tc.n)*tc.p*(1-tc.p)/draws) + 1e-9
		if math.Abs(mean-want) > 5*stderr {
			t.Errorf("Binomial(%d, %v): mean %.2f, want %.2f ± %.2f", tc.n, tc.p, mean, want, 5*stderr)
		}
	}
}

func TestLatencyModelHitsItsPercentiles(t *testing.T) {
	t.Parallel()
	m := newLatencyModel(400*time.Millisecond, 2*time.Second, 0)
	if p := m.cdf(400); math.Abs(p-0.5) > 1e-9 {
		t.Errorf("P(latency <= p50) = %v", p)
	}
	if p := m.cdf(2000); math.Abs(p-0.99) > 1e-6 {
		t.Errorf("P(latency <= p99) = %v", p)
	}
	if p := newLatencyModel(10*time.Millisecond, 20*time.Millisecond, time.Second).cdf(900); p != 0 {
		t.Errorf("an added delay of 1s still lets %v of requests finish in 900ms", p)
	}
}

// The per-second p99 the Result reports is computed as the real engine's
// histogram_quantile would compute it from the same buckets.
func TestQuantileMatchesPromQL(t *testing.T) {
	t.Parallel()
	loop := vclock.New(0)
	world := New(loop, Config{Namespace: "default", App: "demo", StableImage: "slow", RPS: 1000, Seed: 3,
		Profiles: fixtures.Profiles{"slow": {Latency: fixtures.Latency{}}}})
	counts := []int64{0, 0, 10, 40, 100, 300, 400, 100, 40, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	world.telemetry.record(hop{client: ingressGateway, service: "demo", workload: "demo"}, "200", 1000, counts, 50)
	store, err := metricstore.New()
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Append(0, zeroed(world.telemetry.Scrape())); err != nil {
		t.Fatal(err)
	}
	if err := store.Append(15*time.Second, world.telemetry.Scrape()); err != nil {
		t.Fatal(err)
	}
	value, err := store.Query(context.Background(),
		`histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[1m])) by (le))`, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	promql := float64(value.(model.Vector)[0].Value)
	if ours := quantileFromBuckets(0.99, counts, EnvoyBuckets); math.Abs(ours-promql) > 1e-6 {
		t.Fatalf("p99 %v, PromQL says %v", ours, promql)
	}
}

func zeroed(samples []metricstore.Sample) []metricstore.Sample {
	out := make([]metricstore.Sample, len(samples))
	for i, sample := range samples {
		out[i] = metricstore.Sample{Labels: sample.Labels}
	}
	return out
}

func TestRoutingFollowsWeightsAndReadiness(t *testing.T) {
	t.Parallel()
	loop := vclock.New(0)
	profiles := fixtures.Profiles{"blue": {}, "red": {ErrorRate: 1}}
	world := New(loop, Config{Namespace: "default", App: "demo", StableImage: "blue", RPS: 100, Seed: 1,
		PodStartLatency: time.Second, Profiles: profiles})
	stable, canary := world.CreateReplicaSet("s", "blue"), world.CreateReplicaSet("c", "red")
	world.Scale(stable, 2)
	world.Scale(canary, 1)
	world.SetService("demo-stable", "s")
	world.SetService("demo-canary", "c")
	world.SetRoutes([]Route{{Host: "demo-stable", Weight: 75}, {Host: "demo-canary", Weight: 25}})
	loop.RunUntil(100*time.Second, nil)
	stats := world.Stats()
	// Pods are ready after 1s + 2s start-up; until then the gateway answers 503.
	canaryShare := float64(stats.Total["canary"]) / float64(stats.Sum(stats.Total))
	if math.Abs(canaryShare-0.25) > 0.03 {
		t.Errorf("canary got %.3f of requests, want 0.25", canaryShare)
	}
	if stats.Failed["canary"] != stats.Total["canary"] {
		t.Errorf("a version failing every request failed %d of %d", stats.Failed["canary"], stats.Total["canary"])
	}
	if stats.Failed["stable"] == 0 || stats.Failed["stable"] > 300 {
		t.Errorf("stable failed %d: want the 503s of the first 3s only", stats.Failed["stable"])
	}

	killed := world.KillPods("canary", 5)
	if killed != 1 || canary.ReadyReplicas() != 0 || canary.Replicas() != 1 {
		t.Fatalf("killed %d; canary has %d pods, %d ready: want 1 killed and 1 replacement starting", killed, canary.Replicas(), canary.ReadyReplicas())
	}
	loop.RunUntil(104*time.Second, nil)
	if canary.ReadyReplicas() != 1 {
		t.Fatal("the replacement pod did not become ready after start-up")
	}
	world.SetCrashLoop("canary", true)
	if canary.ReadyReplicas() != 0 {
		t.Fatal("a crash-looping pod stayed ready")
	}
	world.SetCrashLoop("canary", false)
	loop.RunUntil(110*time.Second, nil)
	if canary.ReadyReplicas() != 0 {
		t.Fatal("a crashed pod was ready again before its back-off")
	}
	loop.RunUntil(120*time.Second, nil)
	if canary.ReadyReplicas() != 1 {
		t.Fatal("a crashed pod did not restart after its back-off")
	}
}
