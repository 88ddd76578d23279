// Package localbackend is the `local` backend: the scenario's real
// manifests on a real kube-apiserver with the real Argo Rollouts controller,
// or for a flagger scenario a real Flagger controller started for the run
// (localcluster), driven by clusterdriver, with the sim's data plane
// running in real time beside it. The data plane follows the real objects
// and serves the Prometheus HTTP API on loopback; the scenario's
// AnalysisTemplates and MetricTemplates are pointed at it (their Prometheus
// address is rewritten to that URL), so the real AnalysisRuns and Flagger
// checks judge the sim's traffic. For Flagger it also receives the event
// webhook and emulates the loadtester (its gates are the promote and abort
// actions).
package localbackend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/canarylab/canarylab/localcluster"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Name is the backend's name.
const Name = "local"

// Config of the backend.
type Config struct {
	// Dir is the cluster's directory: a cluster running there is reused;
	// otherwise one is started there for the process and stopped by
	// Shutdown. Default <cache dir>/local-cluster (CANARYLAB_LOCAL_DIR).
	Dir string
	// CacheDir and BinDir are the binaries' cache and the user's own
	// binaries (CANARYLAB_CACHE_DIR, CANARYLAB_BIN_DIR).
	CacheDir, BinDir string
	// Keep leaves a cluster this process started running at Shutdown.
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

// DefaultConfig reads the environment for the directories.
func DefaultConfig() Config {
	cfg := Config{
		Dir: os.Getenv("CANARYLAB_LOCAL_DIR"), CacheDir: os.Getenv("CANARYLAB_CACHE_DIR"), BinDir: os.Getenv("CANARYLAB_BIN_DIR"),
		Keep:   os.Getenv("CANARYLAB_KEEP") != "",
		Warmup: 5 * time.Minute, ScrapeInterval: 15 * time.Second, PodStartLatency: time.Second,
		HealthyTimeout: 90 * time.Second,
	}
	return cfg
}

// Backend is the local backend.
type Backend struct{ Config Config }

// New returns the backend with the default configuration.
func New() runner.Backend { return &Backend{Config: DefaultConfig()} }

// Name is "local".
func (b *Backend) Name() string { return Name }

// session is the cluster shared by the runs of one process.
var session struct {
	sync.Mutex
	state   *localcluster.State
	started bool // by this process: Shutdown stops it
	keep    bool
}

// Shutdown stops the cluster this process started for its runs, unless it
// was asked to keep it. The CLI calls it before exiting, also on Ctrl-C.
func Shutdown() error {
	session.Lock()
	defer session.Unlock()
	if session.state == nil || !session.started {
		return nil
	}
	dir := session.state.Dir
	keep := session.keep
	session.state, session.started = nil, false
	if keep {
		return nil
	}
	return localcluster.Down(dir, false)
}

// cluster returns the running cluster: the one in Dir, or a new one.
func (b *Backend) cluster(ctx context.Context, keep bool) (*localcluster.State, error) {
	session.Lock()
	defer session.Unlock()
	if session.state != nil && session.state.Running() {
		session.keep = session.keep || keep
		return session.state, nil
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
	if state, err := localcluster.ReadState(cfg.Dir); err == nil && state.Running() {
		session.state, session.started = state, false
		return state, nil
	} else if err == nil {
		// A cluster that is partly down: clean it up before starting anew.
		if err := localcluster.Down(cfg.Dir, false); err != nil {
			return nil, err
		}
	}
	state, err := localcluster.Up(ctx, localcluster.Options{Dir: cfg.Dir, Log: b.log(), Builder: builder})
	if err != nil {
		return nil, err
	}
	session.state, session.started, session.keep = state, true, cfg.Keep || keep
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
func (c Config) builder() (*localcluster.Builder, error) {
	cacheDir := c.CacheDir
	if cacheDir == "" {
		dir, err := localcluster.DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		cacheDir = dir
	}
	return &localcluster.Builder{CacheDir: cacheDir, BinDir: c.BinDir, Log: c.logger()}, nil
}
