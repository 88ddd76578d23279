package kind

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/cluster/kind/loadgen"
	"github.com/canarylab/canarylab/cluster/kind/platform"
	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// The platform's Deployments the faults act on (platform package).
const (
	prometheusNamespace = platform.IstioNamespace
	prometheusName      = "prometheus"
	controllerNamespace = platform.ArgoRolloutsNamespace
	controllerName      = "argo-rollouts"
)

// IngressGateway is the Istio Gateway the scenario's VirtualServices bind
// to (manifests/platform/ingress-gateway.yaml).
const IngressGateway = platform.IstioNamespace + "/canarylab-gateway"

// run is one scenario on the kind cluster: the cluster.Session does
// the run, and run is its Plane — real pods, real routing, real load.
type run struct {
	cfg       Config
	sc        *scenario.Scenario
	opts      runner.Options
	manifests *argorollouts.Manifests
	objects   []cluster.Object
	routing   cluster.Routing
	// host is the Host header of the load: the VirtualService's first host.
	host string
	log  *slog.Logger

	session  *cluster.Session
	client   dynamic.Interface
	mapper   meta.RESTMapper
	core     rest.Interface
	load     *loadgen.Generator
	weights  *weights
	injector *injector
	scaler   *scaler
	stop     context.CancelFunc

	mu       sync.Mutex
	release  time.Time
	snapshot cluster.Snapshot
}

var _ cluster.Plane = (*run)(nil)

// prepare decodes the scenario's manifests and makes them ready for kind:
// the released container runs the fixture image (IfNotPresent: the images
// are loaded into the nodes, not pulled) with an Istio sidecar (the pod
// label sidecar.istio.io/inject) and a readiness probe on the app's
// /healthz/ready when it has none (so that a profile's start-up time
// holds the pod back, as on the sim); without Istio routing, a
// VirtualService of canarylab's routes the ingress to the entry Service.
func prepare(sc *scenario.Scenario, cfg Config, opts runner.Options) (*run, error) {
	if err := Check(sc); err != nil {
		return nil, err
	}
	m, objects, err := cluster.Decode(sc, Name)
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, sc: sc, opts: opts, manifests: m, objects: objects, routing: cluster.RoutingOf(m), log: cfg.logger()}
	if err := r.preparePodTemplate(); err != nil {
		return nil, err
	}
	if err := r.prepareIngress(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *run) rollout() (cluster.Object, error) {
	for _, obj := range r.objects {
		if obj.GetKind() == "Rollout" && obj.GetName() == r.manifests.Rollout.Metadata.Name {
			return obj, nil
		}
	}
	return cluster.Object{}, fmt.Errorf("the scenario has no Rollout %s", r.manifests.Rollout.Metadata.Name)
}

func (r *run) preparePodTemplate() error {
	rollout, err := r.rollout()
	if err != nil {
		return err
	}
	podLabels, _, _ := unstructured.NestedStringMap(rollout.Object, "spec", "template", "metadata", "labels")
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	podLabels["sidecar.istio.io/inject"] = "true"
	if err := unstructured.SetNestedStringMap(rollout.Object, podLabels, "spec", "template", "metadata", "labels"); err != nil {
		return err
	}
	containers, _, _ := unstructured.NestedSlice(rollout.Object, "spec", "template", "spec", "containers")
	if len(containers) == 0 {
		return fmt.Errorf("%s: Rollout %s has no container", rollout.Where, rollout.GetName())
	}
	container := containers[0].(map[string]any)
	container["imagePullPolicy"] = "IfNotPresent"
	if _, has := container["readinessProbe"]; !has {
		port, _ := strconv.Atoi(appPort)
		container["readinessProbe"] = map[string]any{
			"httpGet":       map[string]any{"path": "/healthz/ready", "port": int64(port)},
			"periodSeconds": int64(1),
		}
	}
	return unstructured.SetNestedSlice(rollout.Object, containers, "spec", "template", "spec", "containers")
}

// prepareIngress finds the Host of the load: the first host of the
// Rollout's VirtualService; without routing, of a VirtualService canarylab
// adds that sends the gateway's traffic to the entry Service.
func (r *run) prepareIngress() error {
	if r.routing.Routed {
		vs, ok := r.object("VirtualService", r.routing.VirtualService)
		if !ok {
			return fmt.Errorf("%w: %s: the Rollout routes with VirtualService %q, which is not in the scenario's manifests (the kind backend sends its load through it)",
				scenario.ErrInvalid, r.manifests.RolloutWhere, r.routing.VirtualService)
		}
		hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts")
		if len(hosts) == 0 || strings.Contains(hosts[0], "*") {
			return fmt.Errorf("%w: %s: VirtualService %s needs a first host without wildcards, the Host of the load through the ingress gateway",
				scenario.ErrInvalid, vs.Where, vs.GetName())
		}
		r.host = hosts[0]
		return nil
	}
	name := "canarylab-ingress-" + r.routing.Entry
	r.host = r.routing.Entry + "." + r.manifests.Namespace + ".canarylab.local"
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
		"metadata": map[string]any{"name": name, "namespace": r.manifests.Namespace},
		"spec": map[string]any{
			"hosts":    []any{r.host},
			"gateways": []any{IngressGateway},
			"http":     []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": r.routing.Entry}}}}},
		},
	}}
	obj, err := cluster.NewObject(vs, "added by the kind backend: the ingress to Service "+r.routing.Entry)
	if err != nil {
		return err
	}
	r.objects = append(r.objects, obj)
	return nil
}

func (r *run) object(kind, name string) (cluster.Object, bool) {
	for _, obj := range r.objects {
		if obj.GetKind() == kind && obj.GetName() == name {
			return obj, true
		}
	}
	return cluster.Object{}, false
}

// restConfig reads the cluster's kubeconfig, with room for the watches,
// the faults' requests and the session's patches at once.
func restConfig(kubeconfig string) (*rest.Config, error) {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig %s: %w", kubeconfig, err)
	}
	config.QPS, config.Burst = 50, 100
	return config, nil
}

func (r *run) execute(ctx context.Context, cluster *provision.State) (res *result.Result, err error) {
	if cluster.HTTPHostPort == 0 {
		return nil, fmt.Errorf("%w: the kind cluster %s publishes no ingress port (it was not created by canarylab): delete it or use another name",
			runner.ErrBackend, cluster.Name)
	}
	config, err := restConfig(cluster.Kubeconfig)
	if err != nil {
		return nil, err
	}
	return r.executeWith(ctx, config, "http://127.0.0.1:"+strconv.Itoa(cluster.HTTPHostPort)+"/")
}

// executeWith runs the session against the API server of config, with the
// load sent to ingress.
func (r *run) executeWith(ctx context.Context, config *rest.Config, ingress string) (res *result.Result, err error) {
	if err := r.connect(config, ingress); err != nil {
		return nil, err
	}
	defer r.load.Stop()
	keepCtx, stop := context.WithCancel(ctx)
	r.stop = stop
	defer stop()
	go r.injector.keep(keepCtx)
	// Faults that last to the end of the run are undone, so that the next
	// run finds Prometheus and the controller running.
	defer func() {
		restoreCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		defer cancel()
		if restoreErr := r.scaler.restore(restoreCtx, 2*time.Minute); restoreErr != nil {
			err = errors.Join(err, fmt.Errorf("%w: restoring the platform after the run: %w", runner.ErrBackend, restoreErr))
		}
	}()
	r.session = &cluster.Session{Scenario: r.sc, Options: r.opts, Backend: Name, Manifests: r.manifests,
		Client: r.client, Mapper: r.mapper, Objects: r.objects, Plane: r, HealthyTimeout: r.cfg.HealthyTimeout}
	return r.session.Run(ctx)
}

// connect makes the plane's parts: the clients of the API server, the
// load through ingress, the weight tracker and the fault injectors.
func (r *run) connect(config *rest.Config, ingress string) error {
	if _, err := url.Parse(ingress); err != nil {
		return err
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	mapper, err := cluster.NewMapper(config)
	if err != nil {
		return err
	}
	r.client, r.core, r.mapper = client, kube.CoreV1().RESTClient(), mapper
	r.load = loadgen.New(loadgen.Config{URL: ingress, Host: r.host, RPS: r.sc.Spec.Load.RPS, StableVersion: tagOf(r.sc.Spec.Stable)})
	r.weights = newWeights(r.routing, r.sc.Spec.Stable)
	r.scaler = newScaler(r.client)
	r.injector = newInjector(r.core, r.client.Resource(cluster.Pods).Namespace(r.manifests.Namespace), r.manifests.Namespace, r.log, r.classOf)
	r.stop = func() {}
	return nil
}

// tagOf is an image's tag: the fixture app's version header.
func tagOf(image string) string {
	if i := strings.LastIndex(image, ":"); i >= 0 && !strings.Contains(image[i:], "/") {
		return image[i+1:]
	}
	return "latest"
}

// classOf says whether a pod-template hash runs the stable version.
func (r *run) classOf(hash string) (scenario.Target, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rs, ok := r.snapshot.ReplicaSets[hash]
	if !ok {
		return "", false
	}
	if rs.Image == r.sc.Spec.Stable {
		return scenario.TargetStable, true
	}
	return scenario.TargetCanary, true
}

// Now is the time since the release.
func (r *run) Now() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.release.IsZero() {
		return 0
	}
	return time.Since(r.release)
}

// Warm sends the load through the ingress for the warm-up before the
// release, so that Prometheus has the stable version's telemetry for the
// analysis' rate windows, as the sim generates it.
func (r *run) Warm(ctx context.Context) error {
	r.load.Warm(ctx)
	r.log.Info("warming up: load on the stable version before the release", "for", r.cfg.Warmup, "host", r.host)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.cfg.Warmup):
		return nil
	}
}

// Start counts the load from the release on.
func (r *run) Start(ctx context.Context, release time.Time, snapshot cluster.Snapshot, emit func(result.Event)) error {
	r.mu.Lock()
	r.release = release
	r.mu.Unlock()
	r.weights.observe(0, snapshot)
	r.weights.release(emit)
	r.load.Start(ctx, release)
	return nil
}

// Follow tracks the routed weight and which hash is which version.
func (r *run) Follow(snapshot cluster.Snapshot) {
	r.mu.Lock()
	r.snapshot = snapshot
	released := !r.release.IsZero()
	r.mu.Unlock()
	now := time.Duration(0)
	if released {
		now = r.Now()
	}
	r.weights.observe(now, snapshot)
}

// Advance has nothing to do: the load runs by itself.
func (r *run) Advance() error { return nil }

// Live is the routed weight and the last whole second's answers.
func (r *run) Live() (int, map[string]int64, map[string]int64) {
	seconds := int(r.Now() / time.Second)
	if seconds == 0 {
		return r.weights.now(), nil, nil
	}
	series := r.load.Series(seconds, nil)
	last := seconds - 1
	return r.weights.now(),
		map[string]int64{"stable": series.Requests.Stable[last], "canary": series.Requests.Canary[last]},
		map[string]int64{"stable": series.Failed.Stable[last], "canary": series.Failed.Canary[last]}
}

// Finish stops the load and returns what came back, per whole second.
func (r *run) Finish() (result.Requests, *result.Series) {
	r.load.Stop()
	r.stop()
	seconds := int(r.Now() / time.Second)
	return r.load.Counts(), r.load.Series(seconds, r.weights.perSecond(seconds))
}

// PodAnnotations: none; readiness is the app's own.
func (r *run) PodAnnotations(string) map[string]string { return nil }

// MetricsOutage scales Prometheus to 0, and back.
func (r *run) MetricsOutage(ctx context.Context, on bool) (string, error) {
	if !on {
		return "", r.scaler.up(ctx, prometheusNamespace, prometheusName)
	}
	return "Prometheus scaled to 0", r.scaler.down(ctx, prometheusNamespace, prometheusName)
}

// ErrorRate and Latency set the fault of the target's pods.
func (r *run) ErrorRate(ctx context.Context, target scenario.Target, rate float64) (string, error) {
	return "", r.injector.setErrorRate(ctx, target, rate)
}

func (r *run) Latency(ctx context.Context, target scenario.Target, delay time.Duration) (string, error) {
	return "", r.injector.setLatency(ctx, target, delay)
}

// NoTraffic pauses the load.
func (r *run) NoTraffic(ctx context.Context, on bool) (string, error) {
	r.load.SetPaused(ctx, on)
	return "", nil
}

// ControllerDown scales the Argo Rollouts controller to 0, and back.
func (r *run) ControllerDown(ctx context.Context, down bool) (string, error) {
	if !down {
		return "", r.scaler.up(ctx, controllerNamespace, controllerName)
	}
	return "the Argo Rollouts controller scaled to 0", r.scaler.down(ctx, controllerNamespace, controllerName)
}

// CrashLoop and MetricsEmpty are refused before a kind run (CheckScenario).
func (r *run) CrashLoop(context.Context, scenario.Target, bool) (string, error) {
	return "", refused(scenario.FaultCrashLoop)
}

func (r *run) MetricsEmpty(context.Context, bool) (string, error) {
	return "", refused(scenario.FaultMetricsEmpty)
}

func refused(fault scenario.Fault) error {
	return fmt.Errorf("%w: fault %s is not reproducible on the kind backend: %s", runner.ErrBackend, fault, Refused[fault])
}
