package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/fixtures/demoapp"
	"github.com/canarylab/canarylab/scenario/duration"
)

// app is the fixture app of an image, ready at once.
func app(t *testing.T, image string) http.Handler {
	t.Helper()
	profile := fixtures.Default()[image].WithDefaults()
	profile.Startup = duration.Ptr(0) // ready at once
	profile.Latency.P50.Duration, profile.Latency.P99.Duration = time.Millisecond, 2*time.Millisecond
	return demoapp.New(demoapp.Config{Image: image, Version: image[len("canarylab/demo:"):], Profile: profile, Seed: 1})
}

// The load reaches the endpoint at its rate with the Host header, and the
// answers are counted by the version that served them: a router sending
// every fifth request to a release answering half of them with 500.
func TestLoadIsCountedByVersion(t *testing.T) {
	stable, canary := app(t, "canarylab/demo:blue"), app(t, "canarylab/demo:red")
	var n atomic.Int64
	var wrongHost atomic.Int64
	router := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "demo.canarylab.local" {
			wrongHost.Add(1)
		}
		if n.Add(1)%5 == 0 {
			canary.ServeHTTP(w, r)
			return
		}
		stable.ServeHTTP(w, r)
	}))
	defer router.Close()

	g := New(Config{URL: router.URL + "/", Host: "demo.canarylab.local", RPS: 100, StableVersion: "blue"})
	start := time.Now()
	g.Start(context.Background(), start)
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for g.Counts().Total < 200 {
		select {
		case <-deadline.C:
			t.Fatalf("only %d answers after 10s at 100 rps", g.Counts().Total)
		case <-tick.C:
		}
	}
	g.Stop()
	counts := g.Counts()
	if wrongHost.Load() > 0 {
		t.Errorf("%d requests without the Host header", wrongHost.Load())
	}
	if counts.Stable.Failed != 0 {
		t.Errorf("stable failed %d", counts.Stable.Failed)
	}
	if share := float64(counts.Canary.Total) / float64(counts.Total); share < 0.18 || share > 0.22 {
		t.Errorf("canary share %.3f of %d, want a fifth", share, counts.Total)
	}
	if ratio := float64(counts.Canary.Failed) / float64(counts.Canary.Total); ratio < 0.25 || ratio > 0.75 {
		t.Errorf("canary failed %d of %d, want about half", counts.Canary.Failed, counts.Canary.Total)
	}
	seconds := int(time.Since(start)/time.Second) + 1
	series := g.Series(seconds, []int{20, 20, 20})
	var sum int64
	for i := range seconds {
		sum += series.Requests.Stable[i] + series.Requests.Canary[i]
	}
	if sum != counts.Total {
		t.Errorf("series sum %d, counts %d", sum, counts.Total)
	}
	if len(series.CanaryWeight) > seconds || series.LatencyP99Ms.Stable[0] <= 0 {
		t.Errorf("series = %+v", series)
	}
}

// No traffic: paused load sends nothing until resumed.
func TestPauseStopsTheLoad(t *testing.T) {
	stable := app(t, "canarylab/demo:blue")
	server := httptest.NewServer(stable)
	defer server.Close()
	g := New(Config{URL: server.URL + "/", RPS: 200, StableVersion: "blue"})
	ctx := context.Background()
	g.Start(ctx, time.Now())
	waitFor(t, func() bool { return g.Counts().Total > 20 })
	g.SetPaused(ctx, true)
	paused := g.Counts().Total
	// Nothing is in flight after SetPaused returns; a while later the
	// count has not moved.
	timer := time.NewTimer(300 * time.Millisecond)
	<-timer.C
	if got := g.Counts().Total; got != paused {
		t.Errorf("%d answers while paused", got-paused)
	}
	g.SetPaused(ctx, false)
	waitFor(t, func() bool { return g.Counts().Total > paused+20 })
	g.Stop()
}

// Warm-up load reaches the endpoint but is not counted; Start counts from
// the release on without a second attack.
func TestWarmUpIsNotCounted(t *testing.T) {
	stable := app(t, "canarylab/demo:blue")
	var served atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		stable.ServeHTTP(w, r)
	}))
	defer server.Close()
	g := New(Config{URL: server.URL + "/", RPS: 200, StableVersion: "blue"})
	ctx := context.Background()
	g.Warm(ctx)
	waitFor(t, func() bool { return served.Load() > 20 })
	if counted := g.Counts().Total; counted != 0 {
		t.Fatalf("%d warm-up answers counted", counted)
	}
	release := time.Now()
	g.Start(ctx, release)
	waitFor(t, func() bool { return g.Counts().Total > 20 })
	g.Stop()
	before := served.Load()
	if counted := g.Counts().Total; counted > before-20 {
		t.Errorf("%d answers counted of %d served: the warm-up's were counted too", counted, before)
	}
	// One attack: at 200 rps, the rate after the release is not doubled.
	elapsed := time.Since(release).Seconds()
	if rate := float64(g.Counts().Total) / elapsed; rate > 260 {
		t.Errorf("%.0f answers per second after Start, want about 200 (one attack)", rate)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		<-tick.C
	}
}

func TestP99(t *testing.T) {
	var latencies []float64
	for i := 1; i <= 100; i++ {
		latencies = append(latencies, float64(i))
	}
	if got := p99(latencies); got != 99 {
		t.Errorf("p99 of 1..100 = %v", got)
	}
	if got := p99(nil); got != 0 {
		t.Errorf("p99 of nothing = %v", got)
	}
}
