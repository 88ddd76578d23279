package localbackend

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"

	"github.com/canarylab/canarylab/clusterdriver"
	"github.com/canarylab/canarylab/localcluster"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/argorollouts"
	"github.com/canarylab/canarylab/sim/dataplane"
)

// run is one scenario on the local cluster.
type run struct {
	cfg       Config
	sc        *scenario.Scenario
	opts      runner.Options
	manifests *argorollouts.Manifests
	objects   []clusterdriver.Object

	driver   *clusterdriver.Driver
	observer *clusterdriver.Observer
	plane    *plane
	state    *localcluster.State

	mu        sync.Mutex
	events    []result.Event
	lastTimed time.Duration

	metricsOutage, metricsEmpty int
	crashLoop                   map[string]bool
}

func prepare(sc *scenario.Scenario, cfg Config, opts runner.Options) (*run, error) {
	m, err := argorollouts.Decode(sc.Documents)
	if err != nil {
		return nil, err
	}
	if m.Rollout.Spec.Strategy.Canary == nil {
		return nil, fmt.Errorf("%w: %s: the local backend drives canary Rollouts; blueGreen is not driven yet", runner.ErrBackend, m.RolloutWhere)
	}
	objects, err := clusterdriver.Objects(sc.Documents, m.Namespace)
	if err != nil {
		return nil, err
	}
	return &run{cfg: cfg, sc: sc, opts: opts, manifests: m, objects: objects, crashLoop: map[string]bool{}}, nil
}

// readyDelay is the pod-ready delay kwok gives an image's pods: scheduling
// and container start, then the profile's start-up; a crashing image never
// becomes ready.
func (r *run) readyDelay(image string) map[string]string {
	profile := r.sc.Profiles[image].WithDefaults()
	if profile.Crash {
		return map[string]string{clusterdriver.PodReadyDelayAnnotation: "87600h"}
	}
	return map[string]string{clusterdriver.PodReadyDelayAnnotation: (r.cfg.PodStartLatency + profile.Startup.Duration).String()}
}

func (r *run) emit(event result.Event) {
	r.mu.Lock()
	r.events = append(r.events, event)
	r.mu.Unlock()
	if r.opts.Progress != nil {
		r.opts.Progress(r.sc.Metadata.Name, event)
	}
}

// emitNow records an event at the current run time.
func (r *run) emitNow(event result.Event) {
	event.AtSeconds = result.Seconds(r.plane.now())
	r.emit(event)
}

func (r *run) execute(ctx context.Context, state *localcluster.State) (res *result.Result, err error) {
	r.state = state
	config, err := state.RESTConfig()
	if err != nil {
		return nil, err
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	r.plane, err = newPlane()
	if err != nil {
		return nil, err
	}
	defer r.plane.close()
	r.plane.emit = r.emit
	r.rewriteAnalysisAddresses()

	rollout := r.manifests.Rollout
	canary := rollout.Spec.Strategy.Canary
	r.driver = &clusterdriver.Driver{Client: client, Namespace: r.manifests.Namespace, Rollout: rollout.Metadata.Name, Objects: r.objects}
	if err := r.driver.SetImage(r.sc.Spec.Stable, r.readyDelay(r.sc.Spec.Stable)); err != nil {
		return nil, err
	}
	if err := r.driver.Prepare(ctx); err != nil {
		return nil, err
	}
	// Whatever happens from here, what was applied is deleted again.
	defer func() {
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		defer cancel()
		if cleanupErr := r.driver.Cleanup(cleanupCtx, 45*time.Second); cleanupErr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up: %w", cleanupErr))
		}
	}()
	if err := r.driver.Apply(ctx); err != nil {
		return nil, err
	}
	if err := r.driver.WaitHealthy(ctx, r.cfg.HealthyTimeout); err != nil {
		return nil, fmt.Errorf("deploying the stable image %s: %w", r.sc.Spec.Stable, err)
	}

	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	r.observer = &clusterdriver.Observer{Namespace: r.manifests.Namespace, Rollout: rollout.Metadata.Name,
		Clock: r.plane.now, Emit: r.emit, Changed: r.plane.apply}
	r.plane.canaryKey, r.plane.entry = canary.CanaryService, r.manifests.EntryService()
	if tr := canary.TrafficRouting; tr != nil && tr.Istio != nil {
		r.plane.routed = true
		if vs := tr.Istio.VirtualService; vs != nil {
			r.observer.VirtualService, r.observer.ManagedRoutes = vs.Name, vs.Routes
		} else if len(tr.Istio.VirtualServices) > 0 {
			r.observer.VirtualService, r.observer.ManagedRoutes = tr.Istio.VirtualServices[0].Name, tr.Istio.VirtualServices[0].Routes
		}
		if dr := tr.Istio.DestinationRule; dr != nil {
			r.plane.canaryKey = dr.CanarySubsetName
		}
	}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(client, 0, r.manifests.Namespace, nil)
	if err := r.observer.Start(watchCtx, factory); err != nil {
		return nil, err
	}

	limit := r.sc.Spec.Load.Duration.Duration
	r.plane.state = r.liveState
	// The release happens on a whole second of the wall clock, as it does
	// on the sim's clock: the controller keeps times in whole seconds
	// (metav1.Time), so a pause that starts at 3.3s ends at 13s on both.
	release := time.Now().Truncate(time.Second).Add(time.Second)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(release)):
	}
	r.plane.start(release, dataplane.Config{
		Namespace: r.manifests.Namespace, App: rollout.Metadata.Name, StableImage: r.sc.Spec.Stable,
		Profiles: r.sc.Profiles, RPS: r.sc.Spec.Load.RPS, Seed: uint64(r.opts.Seed),
	}, r.observer.Snapshot(), r.cfg.Warmup, r.cfg.ScrapeInterval, limit, r.opts.Seed)
	r.observer.MarkReleased()
	r.emit(result.Event{AtSeconds: 0, Type: result.ReleaseStarted, Image: r.sc.Spec.Release})
	if err := r.driver.Release(ctx, r.sc.Spec.Release, r.readyDelay(r.sc.Spec.Release)); err != nil {
		return r.result(), err
	}
	runErr := r.loop(ctx, limit)
	stopWatching()
	return r.result(), runErr
}

// loop applies the scenario's timed events and live actions until the run
// is finished or the limit is reached.
func (r *run) loop(ctx context.Context, limit time.Duration) error {
	type timed struct {
		at  time.Duration
		fn  func() error
		key int
	}
	var queue []timed
	for i, event := range r.sc.Spec.Events {
		event := event
		at := event.At.Duration
		r.lastTimed = max(r.lastTimed, at)
		if event.Action != "" {
			queue = append(queue, timed{at, func() error { return r.applyAction(ctx, event) }, i})
			continue
		}
		queue = append(queue, timed{at, func() error { return r.startFault(ctx, event) }, i})
		if event.For.Duration > 0 {
			end := at + event.For.Duration
			if end <= limit {
				r.lastTimed = max(r.lastTimed, end)
			}
			queue = append(queue, timed{end, func() error { return r.endFault(ctx, event) }, i})
		}
		if event.Fault == scenario.FaultGitopsRevert {
			end := limit
			if event.For.Duration > 0 {
				end = at + event.For.Duration
			}
			for next := at + event.Every.Duration; next < end && event.Every.Duration > 0; next += event.Every.Duration {
				queue = append(queue, timed{next, func() error { return r.revertWeights(ctx) }, i})
			}
		}
	}
	sort.SliceStable(queue, func(i, j int) bool { return queue[i].at < queue[j].at })

	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for {
		r.plane.advance()
		now := r.plane.now()
		for len(queue) > 0 && queue[0].at <= now {
			next := queue[0]
			queue = queue[1:]
			if err := next.fn(); err != nil {
				return fmt.Errorf("at %s: %w", next.at, err)
			}
		}
		if r.plane.scrapeErr != nil {
			return fmt.Errorf("%w: the data plane: %w", runner.ErrBackend, r.plane.scrapeErr)
		}
		if now >= limit || r.finished(now) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("run interrupted at %s: %w", now.Truncate(time.Millisecond), ctx.Err())
		case action := <-r.opts.Actions:
			if err := r.applyLive(ctx, action); err != nil {
				return err
			}
		case <-ticker.C:
		}
	}
}

// finished: the outcome is final, the rollout has settled (only the stable
// ReplicaSet has replicas), and no timed event is still to come.
func (r *run) finished(now time.Duration) bool {
	if now < r.lastTimed {
		return false
	}
	snapshot := r.observer.Snapshot()
	outcome := r.outcome(now)
	if outcome.Result != scenario.OutcomePromoted && outcome.Result != scenario.OutcomeRolledBack {
		return false
	}
	for hash, rs := range snapshot.ReplicaSets {
		if hash != snapshot.Rollout.StableRS && rs.Desired > 0 {
			return false
		}
	}
	return true
}

// outcome is the rollout's final state (DESIGN.md, Outcomes), as the
// observer saw it.
func (r *run) outcome(now time.Duration) result.Outcome {
	o := r.observer
	snapshot := o.Snapshot()
	switch {
	case o.PromotedAt != nil && snapshot.Rollout.Phase == "Healthy" && !snapshot.Rollout.Abort:
		return result.Outcome{Result: scenario.OutcomePromoted, AtSeconds: result.Seconds(*o.PromotedAt)}
	case o.AbortedAt != nil && snapshot.Rollout.Abort:
		return result.Outcome{Result: scenario.OutcomeRolledBack, AtSeconds: result.Seconds(*o.AbortedAt)}
	case o.PausedAt != nil && snapshot.Rollout.Phase == "Paused":
		return result.Outcome{Result: scenario.OutcomePaused, AtSeconds: result.Seconds(*o.PausedAt)}
	}
	return result.Outcome{Result: scenario.OutcomeDegraded, AtSeconds: result.Seconds(now)}
}

func (r *run) result() *result.Result {
	now := r.plane.now()
	requests, series := r.plane.finish()
	r.mu.Lock()
	events := append([]result.Event{}, r.events...)
	r.mu.Unlock()
	sort.SliceStable(events, func(i, j int) bool { return events[i].AtSeconds < events[j].AtSeconds })
	res := &result.Result{Scenario: r.sc.Metadata.Name, Backend: Name, Seed: r.opts.Seed, Requests: requests, Events: events, Series: series}
	if r.observer != nil {
		res.Outcome = r.outcome(now)
	} else {
		res.Outcome = result.Outcome{Result: scenario.OutcomeDegraded}
	}
	return res
}

// liveState is the live view's snapshot, called each second with the
// data plane's lock held.
func (r *run) liveState(now time.Duration) {
	if r.opts.State == nil {
		return
	}
	stats := r.plane.world.Stats()
	last := func(series []int64) int64 {
		if len(series) == 0 {
			return 0
		}
		return series[len(series)-1]
	}
	snapshot := r.observer.Snapshot()
	color := func(image string) string { return r.sc.Profiles[image].Color }
	r.opts.State(r.sc.Metadata.Name, runner.State{
		AtSeconds:    result.Seconds(now),
		CanaryWeight: r.plane.world.CanaryWeight(r.plane.canaryKey),
		Step:         snapshot.Rollout.CurrentStepIndex,
		Steps:        snapshot.Rollout.Steps,
		Phase:        snapshot.Rollout.Phase,
		Requests:     map[string]int64{"stable": last(stats.Requests["stable"]), "canary": last(stats.Requests["canary"])},
		Failed:       map[string]int64{"stable": last(stats.Errors["stable"]), "canary": last(stats.Errors["canary"])},
		Colors:       map[string]string{"stable": color(r.sc.Spec.Stable), "canary": color(snapshot.Rollout.Image)},
		Images:       map[string]string{"stable": r.sc.Spec.Stable, "canary": snapshot.Rollout.Image},
	})
}

// rewriteAnalysisAddresses points every Prometheus metric of the scenario's
// templates at the data plane's API.
func (r *run) rewriteAnalysisAddresses() {
	for _, obj := range r.objects {
		if obj.GetKind() != "AnalysisTemplate" && obj.GetKind() != "ClusterAnalysisTemplate" {
			continue
		}
		metrics, _, _ := unstructured.NestedSlice(obj.Object, "spec", "metrics")
		for _, m := range metrics {
			metric, _ := m.(map[string]any)
			provider, _ := metric["provider"].(map[string]any)
			if prometheus, ok := provider["prometheus"].(map[string]any); ok {
				prometheus["address"] = r.plane.URL
			}
		}
		unstructured.SetNestedSlice(obj.Object, metrics, "spec", "metrics")
	}
}
