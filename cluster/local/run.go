package local

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/cluster/local/controlplane"
	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/dataplane"
	"github.com/canarylab/canarylab/sim/loadtester"
)

// run is one scenario on the local cluster: the cluster.Session does
// the run, and run is its Plane — the sim's data plane in real time, and
// the faults that act on it or on the local processes.
type run struct {
	cfg  Config
	sc   *scenario.Scenario
	opts runner.Options
	// manifests are an Argo Rollouts scenario's, canary a Flagger one's.
	manifests *argorollouts.Manifests
	canary    *cluster.Canary
	objects   []cluster.Object

	session *cluster.Session
	plane   *plane
	state   *controlplane.State
	// flagger is the run's own Flagger controller (flagger scenarios).
	flagger *controlplane.RunProcess
	// rewritten lists the addresses pointed at the data plane.
	rewritten []string
	// loadtester is the emulated flagger-loadtester (flagger scenarios).
	loadtester *loadtester.Tester
	// sessionMu guards session for the event webhook, which may be
	// called before the session exists.
	sessionMu sync.Mutex

	// ctx is the run's, for what its loop does between events.
	ctx context.Context
	// crashes are the crash loops of the run's targets.
	crashes map[scenario.Target]crash
}

var _ cluster.Plane = (*run)(nil)

func prepare(sc *scenario.Scenario, cfg Config, opts runner.Options) (*run, error) {
	if sc.Spec.Controller == scenario.ControllerFlagger {
		return prepareCanary(sc, cfg, opts)
	}
	m, objects, err := cluster.Decode(sc, Name)
	if err != nil {
		return nil, err
	}
	return &run{cfg: cfg, sc: sc, opts: opts, manifests: m, objects: objects, crashes: map[scenario.Target]crash{}}, nil
}

// readyDelay is the pod-ready delay kwok gives an image's pods: scheduling
// and container start, then the profile's start-up; a crashing image never
// becomes ready.
func (r *run) readyDelay(image string) map[string]string {
	profile := r.sc.Profiles[image].WithDefaults()
	if profile.Crash {
		return map[string]string{cluster.PodReadyDelayAnnotation: "87600h"}
	}
	return map[string]string{cluster.PodReadyDelayAnnotation: (r.cfg.PodStartLatency + profile.Startup.Duration).String()}
}

// namespace is where the scenario's objects go.
func (r *run) namespace() string {
	if r.canary != nil {
		return r.canary.Namespace
	}
	return r.manifests.Namespace
}

func (r *run) execute(ctx context.Context, state *controlplane.State) (*result.Result, error) {
	r.ctx = ctx
	if r.canary != nil {
		return r.executeCanary(ctx, state)
	}
	r.state = state
	client, mapper, err := clients(state)
	if err != nil {
		return nil, err
	}
	r.plane, err = newPlane()
	if err != nil {
		return nil, err
	}
	defer r.plane.close()
	r.rewriteAnalysisAddresses()
	routing := cluster.RoutingOf(r.manifests)
	r.plane.routed, r.plane.canaryKey, r.plane.entry = routing.Routed, routing.CanaryKey, routing.Entry
	r.session = &cluster.Session{Scenario: r.sc, Options: r.opts, Backend: Name, Manifests: r.manifests,
		Client: client, Mapper: mapper, Objects: r.objects, Plane: r, HealthyTimeout: r.cfg.HealthyTimeout,
		ReleaseNote: r.releaseNote(), Log: r.cfg.Log}
	return r.session.Run(ctx)
}

func (r *run) log() *slog.Logger { return r.cfg.logger() }

// clients are the run's clients of the local API server: dynamic, and
// the mapper of the manifests' other kinds.
func clients(state *controlplane.State) (dynamic.Interface, meta.RESTMapper, error) {
	config, err := state.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, nil, err
	}
	mapper, err := cluster.NewMapper(config)
	if err != nil {
		return nil, nil, err
	}
	return client, mapper, nil
}

// Now is the time since the release.
func (r *run) Now() time.Duration { return r.plane.now() }

// Warm does nothing: Start generates the warm-up's traffic at once.
func (r *run) Warm(context.Context) error { return nil }

// Start builds the data plane at the release.
func (r *run) Start(_ context.Context, release time.Time, snapshot cluster.Snapshot, emit func(result.Event)) error {
	r.plane.emit = emit
	cfg := dataplane.Config{Namespace: r.namespace(), StableImage: r.sc.Spec.Stable,
		Profiles: r.sc.Profiles, RPS: r.sc.Spec.Load.RPS, Seed: uint64(r.opts.Seed)}
	if r.canary != nil {
		cfg = r.canaryConfig(cfg)
	} else {
		cfg.App = r.manifests.Rollout.Metadata.Name
	}
	r.plane.start(release, cfg, snapshot, r.cfg.Warmup, r.cfg.ScrapeInterval, r.sc.Spec.Load.Duration.Duration, r.opts.Seed)
	return nil
}

// Follow has the data plane follow the cluster.
func (r *run) Follow(snapshot cluster.Snapshot) { r.plane.apply(snapshot) }

// Advance runs the data plane up to the wall clock and follows the crash
// loops.
func (r *run) Advance() error {
	r.plane.advance()
	if err := r.plane.err(); err != nil {
		return err
	}
	return r.followCrashes()
}

// Live is the data plane's routed weight and last second.
func (r *run) Live() (int, map[string]int64, map[string]int64) { return r.plane.live() }

// Finish is the data plane's request counts and series.
func (r *run) Finish() (result.Requests, *result.Series) { return r.plane.finish() }

// PodAnnotations carry kwok's ready delay for the image.
func (r *run) PodAnnotations(image string) map[string]string { return r.readyDelay(image) }

// releaseNote says which addresses of the manifests were pointed at the
// data plane, for the ReleaseStarted event.
func (r *run) releaseNote() string {
	if len(r.rewritten) == 0 {
		return ""
	}
	return "pointed at the local data plane: " + strings.Join(r.rewritten, "; ")
}

// rewriteAnalysisAddresses points every Prometheus metric of the scenario's
// templates at the data plane's API, and every metric whose answer the
// scenario declares (spec.stubs) at a web endpoint of the data plane that
// gives it: Argo Rollouts' web provider judges its JSON with the metric's
// conditions (AR metricproviders/webmetric/webmetric.go parseResponse) as
// the sim judges the declared value; a declared pass or fail becomes true
// judged by a condition that says so.
func (r *run) rewriteAnalysisAddresses() {
	served := map[string]string{}
	for _, obj := range r.objects {
		if obj.GetKind() != "AnalysisTemplate" && obj.GetKind() != "ClusterAnalysisTemplate" {
			continue
		}
		metrics, _, _ := unstructured.NestedSlice(obj.Object, "spec", "metrics")
		for _, m := range metrics {
			metric, _ := m.(map[string]any)
			name, _ := metric["name"].(string)
			provider, _ := metric["provider"].(map[string]any)
			where := fmt.Sprintf("%s %s metric %s", obj.GetKind(), obj.GetName(), name)
			if stub, ok := r.manifests.Declared[name]; ok {
				if served[name] == "" {
					served[name] = r.plane.handle("/stubs/metrics/"+name, declaredAnswer(stub))
				}
				metric["provider"] = map[string]any{"web": map[string]any{"url": served[name], "jsonPath": "{$.value}"}}
				switch stub.Answer {
				case scenario.AnswerPass:
					metric["successCondition"], metric["failureCondition"] = "result == true", ""
				case scenario.AnswerFail:
					metric["successCondition"], metric["failureCondition"] = "", "result == true"
				}
				r.rewritten = append(r.rewritten, where+" answered as declared (spec.stubs)")
				continue
			}
			if prometheus, ok := provider["prometheus"].(map[string]any); ok {
				prometheus["address"] = r.plane.URL
				r.rewritten = append(r.rewritten, where+" provider.prometheus.address")
			}
		}
		unstructured.SetNestedSlice(obj.Object, metrics, "spec", "metrics")
	}
}

// declaredAnswer serves a declared metric answer as a web metric's JSON:
// {"value": <the value>}, or {"value": true} for pass or fail.
func declaredAnswer(stub scenario.MetricStub) http.Handler {
	value := stub.Value
	if stub.Answer != "" {
		value = "true"
	}
	body := []byte(`{"value": ` + value + "}")
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}
