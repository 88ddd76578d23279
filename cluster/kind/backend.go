// Package kind is the `kind` backend: the scenario's real manifests
// on a kind cluster with Istio, Prometheus and the real Argo Rollouts
// controller (provision and platform), driven by the cluster package
// Session. The pods run the fixture app's images, built without Docker
// (fixtures/image) and loaded into the nodes; the load goes through the
// Istio ingress gateway on 127.0.0.1 (loadgen), answers counted by the
// version header; the AnalysisTemplates query the platform's Prometheus as
// they are written (http://prometheus.istio-system:9090). Faults act on the
// cluster: pods are deleted, the app's /fault endpoint is set through the
// API server's pod proxy, Prometheus or the controller is scaled to 0.
package kind

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/canarylab/canarylab/cluster/kind/platform"
	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/cluster/local/controlplane"
	"github.com/canarylab/canarylab/fixtures/image"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Name is the backend's name.
const Name = "kind"

// Config of the backend.
type Config struct {
	// Name of the kind cluster (default provision.DefaultName).
	Name string
	// Dir is the cluster's directory (its kubeconfig and state): the
	// cluster canarylab created there is reused; otherwise one is created
	// and deleted by Close. Default <CacheDir>/kind-<name>, where
	// `canarylab cluster up --provider kind` puts it (the CLI reads
	// CANARYLAB_KIND_DIR).
	Dir string
	// CacheDir is canarylab's cache directory; default <user cache
	// dir>/canarylab (the CLI reads CANARYLAB_CACHE_DIR).
	CacheDir string
	// Keep leaves a cluster this backend created running at Close
	// (the CLI reads CANARYLAB_KEEP).
	Keep bool
	Log  *slog.Logger
	// Warmup is how long the load runs on the stable version before the
	// release (default 30s: two of Prometheus' 15s scrapes of it in the
	// demo templates' 1m rate windows at the release; the sim generates 5m,
	// which would add minutes to every run here).
	Warmup time.Duration
	// HealthyTimeout bounds the stable deploy (default 5m: the first pods
	// of a new cluster wait for Istio's proxy image to be pulled).
	HealthyTimeout time.Duration
	// Platform configures the installs; Build the fixture images' build.
	Platform platform.Options
	Build    image.Options
	// NewProvider finds the container runtime; nil is kind's detection.
	// Tests pass a fake.
	NewProvider func(*slog.Logger) (provision.Provider, error)
}

func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = provision.DefaultName
	}
	if c.Dir == "" {
		cache := c.CacheDir
		if cache == "" {
			dir, err := controlplane.DefaultCacheDir()
			if err != nil {
				return c, err
			}
			cache = dir
		}
		c.Dir = filepath.Join(cache, "kind-"+c.Name)
	}
	if c.Warmup == 0 {
		c.Warmup = 30 * time.Second
	}
	if c.HealthyTimeout == 0 {
		c.HealthyTimeout = 5 * time.Minute
	}
	if c.Platform.Log == nil {
		c.Platform.Log = c.logger()
	}
	return c, nil
}

func (c Config) logger() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// ClusterOptions are the options of provision.Up for the backend's
// cluster: its name and directory, and after kind's own steps the platform
// installs (Istio, Prometheus, Argo Rollouts) and the "images" step, which
// loads the fixture images of refs. The backend runs Up with them before
// its first scenario (reusing the cluster canarylab created in Dir); a test
// suite that brings the cluster up and down itself uses the same.
func (c Config) ClusterOptions(refs []string) (provision.Options, error) {
	c, err := c.withDefaults()
	if err != nil {
		return provision.Options{}, err
	}
	opts := provision.Options{Name: c.Name, Dir: c.Dir, Keep: c.Keep, Log: c.logger(), NewProvider: c.NewProvider}
	opts.Steps = append(platform.Steps(c.Platform), imagesStep(c.Build, opts, refs))
	return opts, nil
}

// Backend is the kind backend. Its runs share one cluster, created (or
// reused) by the first run and deleted by Close if the backend created it.
type Backend struct {
	Config Config

	mu      sync.Mutex
	state   *provision.State
	opts    provision.Options
	created bool // by this backend: Close deletes it
	keep    bool
	loaded  map[string]bool // fixture images loaded by this backend
}

// New returns the backend with cfg.
func New(cfg Config) *Backend { return &Backend{Config: cfg} }

// Name is "kind".
func (b *Backend) Name() string { return Name }

// Close deletes the cluster this backend created for its runs, unless it
// was asked to keep it. The CLI calls it before exiting, also on Ctrl-C.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == nil || !b.created {
		b.state, b.loaded = nil, nil
		return nil
	}
	opts, keep := b.opts, b.keep
	b.state, b.created, b.loaded = nil, false, nil
	if keep {
		opts.Log.Warn("keeping the kind cluster (keep)", "name", opts.Name, "kubeconfig", filepath.Join(opts.Dir, "kubeconfig"),
			"delete it with", "canarylab cluster down --provider kind --name "+opts.Name)
		return nil
	}
	if _, err := provision.Down(opts); err != nil {
		return fmt.Errorf("deleting the kind cluster: %w", err)
	}
	return nil
}

// cluster returns the cluster, with the platform installed and the
// fixture images of refs loaded: on the first run of the process,
// provision.Up creates it (or reuses the one canarylab created in Dir)
// and runs the platform installs and the images step; later runs load the
// images they need that are not loaded yet.
func (b *Backend) cluster(ctx context.Context, keep bool, refs []string) (*provision.State, error) {
	cfg, err := b.Config.withDefaults()
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != nil {
		b.keep = b.keep || keep
		var missing []string
		for _, ref := range refs {
			if !b.loaded[ref] {
				missing = append(missing, ref)
			}
		}
		if len(missing) > 0 {
			if err := loadImages(ctx, cfg.Build, b.opts, missing); err != nil {
				return nil, err
			}
			b.markLoaded(missing)
		}
		return b.state, nil
	}
	cfg.Keep = cfg.Keep || keep
	opts, err := cfg.ClusterOptions(refs)
	if err != nil {
		return nil, err
	}
	// Whether the cluster exists already decides who deletes it: one this
	// process creates goes at Shutdown, one it reuses stays.
	nodes, err := provision.Status(opts)
	if err != nil {
		return nil, err
	}
	state, err := provision.Up(ctx, opts)
	if err != nil {
		return nil, err
	}
	b.state, b.opts, b.created, b.keep = state, opts, len(nodes) == 0, cfg.Keep
	b.loaded = map[string]bool{}
	b.markLoaded(refs)
	return state, nil
}

func (b *Backend) markLoaded(refs []string) {
	for _, ref := range refs {
		b.loaded[ref] = true
	}
}

// Run replays the scenario on the kind cluster in real time.
func (b *Backend) Run(ctx context.Context, sc *scenario.Scenario, opts runner.Options) (*result.Result, error) {
	cfg, err := b.Config.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	r, err := prepare(sc, cfg, opts)
	if err != nil {
		return nil, err
	}
	state, err := b.cluster(ctx, opts.Keep, Images(sc))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	res, err := r.execute(ctx, state)
	if err != nil && !errors.Is(err, scenario.ErrInvalid) && !errors.Is(err, runner.ErrBackend) && ctx.Err() == nil {
		err = fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	return res, err
}
