// Package local is the `local` backend: the scenario's real
// manifests on a real kube-apiserver with the real Argo Rollouts controller,
// or for a flagger scenario a real Flagger controller started for the run
// (controlplane), driven by the cluster package, with the sim's data plane
// running in real time beside it. The data plane follows the real objects
// and serves the Prometheus HTTP API on loopback; the scenario's
// AnalysisTemplates and MetricTemplates are pointed at it (their Prometheus
// address is rewritten to that URL), so the real AnalysisRuns and Flagger
// checks judge the sim's traffic. For Flagger it also receives the event
// webhook and emulates the loadtester (its gates are the promote and abort
// actions).
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/canarylab/canarylab/cluster/local/controlplane"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Name is the backend's name.
const Name = "local"

// Config of the backend.
type Config struct {
	// Dir is the cluster's directory: a cluster running there is reused;
	// otherwise one is started there and stopped by Close. Default
	// <cache dir>/local-cluster (the CLI reads CANARYLAB_LOCAL_DIR).
	Dir string
	// CacheDir and BinDir are the binaries' cache and the user's own
	// binaries (the CLI reads CANARYLAB_CACHE_DIR, CANARYLAB_BIN_DIR).
	CacheDir, BinDir string
	// Overrides are binaries to use as they are, by name (the CLI reads
	// CANARYLAB_<NAME>, controlplane.OverridesFrom).
	Overrides map[string]string
	// Keep leaves a cluster this backend started running at Close.
	Keep bool
	Log  *slog.Logger
	// Warmup is the stable traffic generated before the release, as on the
	// sim; ScrapeInterval is Prometheus' (15s).
	Warmup, ScrapeInterval time.Duration
	// PodStartLatency is added to each image's start-up in the pod-ready
	// delay kwok applies (the sim's scheduling and container start).
	PodStartLatency time.Duration
	// HealthyTimeout bounds the stable deploy.
	HealthyTimeout time.Duration
}

// DefaultConfig is the model parameters the sim uses too; the
// directories are empty (the default cache directory).
func DefaultConfig() Config {
	return Config{
		Warmup: 5 * time.Minute, ScrapeInterval: 15 * time.Second, PodStartLatency: time.Second,
		HealthyTimeout: 90 * time.Second,
	}
}

// Backend is the local backend. Its runs share one cluster, started by the
// first run that needs it and stopped by Close.
type Backend struct {
	Config Config

	mu      sync.Mutex
	state   *controlplane.State
	started bool // by this backend: Close stops it
	keep    bool
}

// New returns the backend with cfg.
func New(cfg Config) *Backend { return &Backend{Config: cfg} }

// Name is "local".
func (b *Backend) Name() string { return Name }

// Close stops the cluster this backend started for its runs, unless it was
// asked to keep it. The CLI calls it before exiting, also on Ctrl-C.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == nil || !b.started {
		return nil
	}
	dir := b.state.Dir
	keep := b.keep
	b.state, b.started = nil, false
	if keep {
		return nil
	}
	return controlplane.Down(dir, false)
}

// cluster returns the running cluster: the one in Dir, or a new one.
func (b *Backend) cluster(ctx context.Context, keep bool) (*controlplane.State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != nil && b.state.Running() {
		b.keep = b.keep || keep
		return b.state, nil
	}
	cfg := b.Config
	builder, err := cfg.builder()
	if err != nil {
		return nil, err
	}
	cfg.CacheDir = builder.CacheDir
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(cfg.CacheDir, "local-cluster")
	}
	if state, err := controlplane.ReadState(cfg.Dir); err == nil && state.Running() {
		b.state, b.started = state, false
		return state, nil
	} else if err == nil {
		// A cluster that is partly down: clean it up before starting anew.
		if err := controlplane.Down(cfg.Dir, false); err != nil {
			return nil, err
		}
	}
	state, err := controlplane.Up(ctx, controlplane.Options{Dir: cfg.Dir, Log: b.log(), Builder: builder})
	if err != nil {
		return nil, err
	}
	b.state, b.started, b.keep = state, true, cfg.Keep || keep
	return state, nil
}

// Run replays the scenario on the real controller (Argo Rollouts, or a
// Flagger controller started for the run) in real time.
func (b *Backend) Run(ctx context.Context, sc *scenario.Scenario, opts runner.Options) (*result.Result, error) {
	cfg := b.Config
	cfg.Log = b.log()
	r, err := prepare(sc, cfg, opts)
	if err != nil {
		return nil, err
	}
	state, err := b.cluster(ctx, opts.Keep)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	unlock, err := state.LockNamespace(ctx, r.namespace(), func() {
		b.log().Info("waiting for another canarylab run in the same namespace of the local cluster", "namespace", r.namespace())
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	defer unlock()
	res, err := r.execute(ctx, state)
	if err != nil && !errors.Is(err, scenario.ErrInvalid) && !errors.Is(err, runner.ErrBackend) && ctx.Err() == nil {
		err = fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	return res, err
}

// log is where the backend says what it does (stderr unless configured).
func (b *Backend) log() *slog.Logger { return b.Config.logger() }

func (c Config) logger() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// builder finds or builds the binaries (the cache directory defaults to
// the user's).
func (c Config) builder() (*controlplane.Builder, error) {
	cacheDir := c.CacheDir
	if cacheDir == "" {
		dir, err := controlplane.DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		cacheDir = dir
	}
	return &controlplane.Builder{CacheDir: cacheDir, BinDir: c.BinDir, Overrides: c.Overrides, Log: c.logger()}, nil
}
