// Package loadgen sends a scenario's user load to a real endpoint (the
// kind backend's ingress gateway) with vegeta, and counts every answer as
// stable or canary by the fixture app's version header, failed or not, per
// second: the same request counts and series the sim's data plane produces.
package loadgen

import (
	"context"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarylab/canarylab/fixtures/demoapp"
	"github.com/canarylab/canarylab/result"
)

// Config of the load.
type Config struct {
	// URL is where requests go; Host, if set, is their Host header (the
	// VirtualService's host through the gateway).
	URL  string
	Host string
	// RPS is the constant request rate.
	RPS float64
	// StableVersion is the version header of the stable image's answers;
	// any other version is the canary.
	StableVersion string
	// Timeout bounds one request (default 10s); a timeout is a failure.
	Timeout time.Duration
}

// Generator sends the load and records what came back.
type Generator struct {
	cfg   Config
	start time.Time

	mu       sync.Mutex
	counting bool
	seconds  []second
	total    map[string]*result.Counts
	paused   bool
	cancel   context.CancelFunc
	done     chan struct{}
}

type second struct {
	requests, failed map[string]int64
	latencies        map[string][]float64 // ms
}

func newSecond() second {
	return second{requests: map[string]int64{}, failed: map[string]int64{}, latencies: map[string][]float64{}}
}

// New prepares a generator; Start begins the load.
func New(cfg Config) *Generator {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Generator{cfg: cfg, total: map[string]*result.Counts{"stable": {}, "canary": {}}}
}

// Warm sends the load from now on without counting it: the stable
// version's traffic before the release, which the analysis' rate windows
// look back on. Start then begins the count without interrupting the load.
func (g *Generator) Warm(ctx context.Context) {
	g.attack(ctx)
}

// Start counts answers from start (the release) on, and sends the load
// from now on unless Warm sends it already; second 0 of the series begins
// at start, and answers before it are not counted.
func (g *Generator) Start(ctx context.Context, start time.Time) {
	g.mu.Lock()
	g.start, g.counting = start, true
	running := g.done != nil && !g.paused
	g.mu.Unlock()
	if !running {
		g.attack(ctx)
	}
}

func (g *Generator) attack(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	g.mu.Lock()
	g.cancel, g.done = cancel, done
	g.mu.Unlock()
	attacker := vegeta.NewAttacker(vegeta.Timeout(g.cfg.Timeout), vegeta.KeepAlive(true), vegeta.Workers(8))
	header := http.Header{}
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: g.cfg.URL, Header: header})
	if g.cfg.Host != "" {
		header.Set("Host", g.cfg.Host)
	}
	// Freq per 1000s keeps fractional rates such as 12.5 rps exact.
	pacer := vegeta.ConstantPacer{Freq: int(math.Round(g.cfg.RPS * 1000)), Per: 1000 * time.Second}
	results := attacker.Attack(targeter, pacer, 0, "canarylab")
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				attacker.Stop()
				for r := range results {
					g.record(r)
				}
				return
			case r, ok := <-results:
				if !ok {
					return
				}
				g.record(r)
			}
		}
	}()
}

// SetPaused stops the load (the no-traffic fault) or starts it again.
func (g *Generator) SetPaused(ctx context.Context, paused bool) {
	g.mu.Lock()
	was := g.paused
	g.paused = paused
	cancel, done := g.cancel, g.done
	g.mu.Unlock()
	switch {
	case paused && !was && cancel != nil:
		cancel()
		<-done
	case !paused && was:
		g.attack(ctx)
	}
}

// Stop ends the load and waits for the answers in flight.
func (g *Generator) Stop() {
	g.mu.Lock()
	cancel, done := g.cancel, g.done
	g.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (g *Generator) record(r *vegeta.Result) {
	g.mu.Lock()
	defer g.mu.Unlock()
	at := r.Timestamp.Sub(g.start)
	if !g.counting || at < 0 {
		return
	}
	class := "stable"
	if version := r.Headers.Get(demoapp.VersionHeader); version != "" && version != g.cfg.StableVersion {
		class = "canary"
	}
	failed := r.Error != "" || r.Code == 0 || r.Code >= 500
	index := int(at / time.Second)
	for len(g.seconds) <= index {
		g.seconds = append(g.seconds, newSecond())
	}
	s := g.seconds[index]
	s.requests[class]++
	g.total[class].Total++
	if failed {
		s.failed[class]++
		g.total[class].Failed++
	}
	s.latencies[class] = append(s.latencies[class], float64(r.Latency)/float64(time.Millisecond))
}

// Counts are the request counts so far.
func (g *Generator) Counts() result.Requests {
	g.mu.Lock()
	defer g.mu.Unlock()
	stable, canary := *g.total["stable"], *g.total["canary"]
	var latencies []float64
	for _, s := range g.seconds {
		latencies = append(append(latencies, s.latencies["stable"]...), s.latencies["canary"]...)
	}
	return result.Requests{Total: stable.Total + canary.Total, Failed: stable.Failed + canary.Failed, Stable: stable, Canary: canary,
		LatencyP99Ms: p99(latencies)}
}

// Series are the per-second series of the first n seconds, with the
// routed canary weight of each.
func (g *Generator) Series(n int, weights []int) *result.Series {
	g.mu.Lock()
	defer g.mu.Unlock()
	series := &result.Series{StepSeconds: 1, CanaryWeight: append([]int{}, weights[:min(n, len(weights))]...),
		Requests:     result.VersionSeries{Stable: []int64{}, Canary: []int64{}},
		Failed:       result.VersionSeries{Stable: []int64{}, Canary: []int64{}},
		LatencyP99Ms: result.VersionFloats{Stable: []float64{}, Canary: []float64{}}}
	for i := range n {
		s := newSecond()
		if i < len(g.seconds) {
			s = g.seconds[i]
		}
		series.Requests.Stable = append(series.Requests.Stable, s.requests["stable"])
		series.Requests.Canary = append(series.Requests.Canary, s.requests["canary"])
		series.Failed.Stable = append(series.Failed.Stable, s.failed["stable"])
		series.Failed.Canary = append(series.Failed.Canary, s.failed["canary"])
		series.LatencyP99Ms.Stable = append(series.LatencyP99Ms.Stable, p99(s.latencies["stable"]))
		series.LatencyP99Ms.Canary = append(series.LatencyP99Ms.Canary, p99(s.latencies["canary"]))
	}
	return series
}

// p99 is the nearest-rank 99th percentile, to 0.1 ms; 0 without samples.
func p99(latencies []float64) float64 {
	if len(latencies) == 0 {
		return 0
	}
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	rank := int(math.Ceil(0.99*float64(len(sorted)))) - 1
	return math.Round(sorted[max(rank, 0)]*10) / 10
}
