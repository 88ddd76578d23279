// Package sim is the simulation backend: the scenario replayed in virtual
// time against models of the controller, the app, the mesh and Prometheus.
// A 10-minute rollout runs in milliseconds, and the same seed gives the same
// result byte for byte.
package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/engine"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	argomodel "github.com/canarylab/canarylab/sim/argorollouts"
	"github.com/canarylab/canarylab/sim/dataplane"
	flaggermodel "github.com/canarylab/canarylab/sim/flagger"
	"github.com/canarylab/canarylab/sim/metricstore"
	"github.com/canarylab/canarylab/sim/vclock"
)

// Name is the backend's name.
const Name = "sim"

// Config holds the model parameters that are not part of a scenario.
type Config struct {
	// Warmup is how long the stable version serves traffic before the
	// release, so that rate windows have history.
	Warmup time.Duration
	// ScrapeInterval is Prometheus' scrape interval (Istio's sample addon: 15s).
	ScrapeInterval time.Duration
	// PodStartLatency is scheduling and container start before readiness.
	PodStartLatency time.Duration
	Controller      argomodel.Config
	Flagger         flaggermodel.Config
}

// DefaultConfig is what the sim runs with unless told otherwise.
func DefaultConfig() Config {
	return Config{
		Warmup:          5 * time.Minute,
		ScrapeInterval:  15 * time.Second,
		PodStartLatency: time.Second,
		Controller:      argomodel.DefaultConfig(),
		Flagger:         flaggermodel.DefaultConfig(),
	}
}

// Backend is the sim backend.
type Backend struct {
	Config Config
}

// New returns the sim backend with the default configuration.
func New() *Backend { return &Backend{Config: DefaultConfig()} }

// Name is "sim".
func (b *Backend) Name() string { return Name }

// Close does nothing: a sim run leaves nothing behind.
func (b *Backend) Close() error { return nil }

// Run replays the scenario in virtual time.
func (b *Backend) Run(ctx context.Context, sc *scenario.Scenario, opts runner.Options) (*result.Result, error) {
	return b.replay(ctx, sc, opts, nil)
}

// replay is Run; inspect, if set, reads the run's metric store at its end.
func (b *Backend) replay(ctx context.Context, sc *scenario.Scenario, opts runner.Options, inspect func(*metricstore.Store)) (*result.Result, error) {
	var argo *argorollouts.Manifests
	var flag *flagger.Manifests
	switch sc.Spec.Controller {
	case scenario.ControllerFlagger:
		m, err := flagger.DecodeScenario(sc)
		if err != nil {
			return nil, err
		}
		if err := errors.Join(m.Unanswerable(), m.Unsupported()); err != nil {
			return nil, fmt.Errorf("%w: %w", runner.ErrBackend, err)
		}
		flag = m
	default:
		m, err := argorollouts.DecodeScenario(sc)
		if err != nil {
			return nil, err
		}
		if err := m.Unsupported(); err != nil {
			return nil, fmt.Errorf("%w: %w", runner.ErrBackend, err)
		}
		argo = m
	}
	store, err := metricstore.New()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	defer store.Close()

	r := newRun(b.Config, sc, argo, flag, store, opts)
	res, err := r.execute(ctx)
	if inspect != nil {
		inspect(store)
	}
	return res, err
}

// run is one replay.
type run struct {
	cfg   Config
	sc    *scenario.Scenario
	opts  runner.Options
	loop  *vclock.Loop
	world *dataplane.World
	ctrl  controller
	store *metricstore.Store

	// ctx is the run's context: queries are cancelled with it.
	ctx context.Context

	// engine runs the scenario on the run's clock and models.
	engine *engine.Run
	pacer  *pacer

	events        []result.Event
	weights       []int
	secondWeight  int // highest routed canary weight of the current second
	metricsOutage bool
	metricsEmpty  bool
	scrapeErr     error
}

func newRun(cfg Config, sc *scenario.Scenario, argo *argorollouts.Manifests, flag *flagger.Manifests, store *metricstore.Store, opts runner.Options) *run {
	world := dataplane.Config{
		StableImage:     sc.Spec.Stable,
		Profiles:        sc.Profiles,
		RPS:             sc.Spec.Load.RPS,
		PodStartLatency: cfg.PodStartLatency,
		Seed:            uint64(opts.Seed),
	}
	if flag != nil {
		// Flagger initialises in two ticks before the release; the warm-up
		// covers them at any interval.
		cfg.Warmup = max(cfg.Warmup, 3*flagger.AnalysisInterval(flag.Canary.Spec.Analysis)+time.Minute)
		world.Namespace, world.App = flag.Namespace, flag.Canary.Spec.TargetRef.Name
		cfg.Flagger.MeshProvider = sc.Spec.MeshProvider
		world.Mesh = flagger.MeshFor(&flag.Canary, sc.Spec.MeshProvider)
		world.RoutedHost, _, _ = flagger.ServiceNames(&flag.Canary)
		if service := flag.Canary.Spec.Service; service != nil && service.Port != nil {
			world.Port = *service.Port
		}
	} else {
		world.Namespace, world.App = argo.Namespace, argo.Rollout.Metadata.Name
	}
	r := &run{cfg: cfg, sc: sc, opts: opts, store: store, loop: vclock.New(-cfg.Warmup)}
	r.world = dataplane.New(r.loop, world)
	if flag != nil {
		r.ctrl = r.newFlagger(flag)
	} else {
		r.ctrl = argoModel{argomodel.New(r.loop, r.world, argo, r.query, r.emit, cfg.Controller, sc.Spec.Stable)}
	}
	return r
}

// emit records an event at the current virtual time; events before the
// release (the stable deploy) are not part of the timeline.
func (r *run) emit(event result.Event) {
	if r.loop.Now() < 0 {
		return
	}
	event.AtSeconds = result.Seconds(r.loop.Now())
	r.events = append(r.events, event)
	if event.Type == result.WeightChanged && event.CanaryWeight != nil {
		r.secondWeight = max(r.secondWeight, *event.CanaryWeight)
	}
	if r.opts.Progress != nil {
		r.opts.Progress(r.sc.Metadata.Name, event)
	}
}

// query is the Prometheus API the controller's analysis calls. It runs on
// the run's context, so an interrupted run stops a slow query at once; what
// a query may cost is bounded by samples (metricstore), not by wall time, so
// a result never depends on the host's speed.
func (r *run) query(_ context.Context, query string) (model.Value, error) {
	if r.metricsOutage {
		// What the provider reports when Prometheus does not answer.
		return nil, errors.New(`Post "http://prometheus.istio-system:9090/api/v1/query": dial tcp 10.96.0.90:9090: connect: connection refused`)
	}
	if r.metricsEmpty {
		return model.Vector{}, nil
	}
	value, err := r.store.Query(r.ctx, query, r.loop.Now())
	if err != nil {
		return nil, err
	}
	return value, nil
}

func (r *run) execute(ctx context.Context) (*result.Result, error) {
	r.ctx = ctx
	limit := r.sc.Spec.Load.Duration.Duration
	r.scheduleScrapes(limit)
	r.scheduleSeconds(limit)
	if r.opts.Pace > 0 {
		r.pacer = newPacer(r.opts.Pace)
	}
	r.engine = &engine.Run{Scenario: r.sc, Options: r.opts, Clock: r, World: r}
	runErr := r.engine.Loop(ctx)
	r.world.Flush()
	return r.result(), runErr
}

func (r *run) scheduleScrapes(limit time.Duration) {
	interval := r.cfg.ScrapeInterval
	// Prometheus spreads targets over the interval by a hash of the target;
	// here the seed picks the phase, so seeds differ as real runs do.
	offset := time.Duration(uint64(r.opts.Seed)*7919%uint64(interval/time.Millisecond)) * time.Millisecond
	var scrape func()
	scrape = func() {
		r.world.Flush()
		if err := r.world.Telemetry().ScrapeInto(r.store, r.loop.Now()); err != nil {
			r.scrapeErr = fmt.Errorf("%w: scraping into the TSDB: %w", runner.ErrBackend, err)
			return
		}
		if r.loop.Now()+interval <= limit {
			r.loop.After(interval, scrape)
		}
	}
	r.loop.At(-r.cfg.Warmup+offset, scrape)
}

// scheduleSeconds closes each second of the series.
func (r *run) scheduleSeconds(limit time.Duration) {
	// The weight of second i is the highest routed during it, so a second
	// in which the canary got traffic never reads 0.
	var tick func()
	tick = func() {
		r.world.Flush()
		current := r.ctrl.RoutedCanaryWeight()
		if r.loop.Now() > 0 {
			r.weights = append(r.weights, max(r.secondWeight, current))
		}
		r.secondWeight = current
		if r.loop.Now()+time.Second <= limit {
			r.loop.After(time.Second, tick)
		}
	}
	r.loop.At(0, tick)
}
