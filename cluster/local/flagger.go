package local

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/cluster/local/controlplane"
	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/dataplane"
	"github.com/canarylab/canarylab/sim/loadtester"
)

// Paths on the data plane's server for Flagger runs.
const (
	// eventsPath receives Flagger's event webhook.
	eventsPath = "/flagger/events"
	// loadtesterPath serves the emulated flagger-loadtester.
	loadtesterPath = "/loadtester/"
)

// ErrLinkerd explains why Linkerd canaries do not run on the local backend.
var ErrLinkerd = fmt.Errorf("%w: the local backend runs Flagger canaries on Istio only: Flagger's linkerd provider writes SMI TrafficSplits "+
	"(split.smi-spec.io/v1alpha1), and no module the Go proxy serves ships a CRD for them that Kubernetes %s accepts "+
	"(smi-sdk-go v0.3.0-v0.5.0 hold apiextensions.k8s.io/v1beta1 CRDs that do not serve v1alpha1; linkerd-smi is not on the proxy); "+
	"run the scenario on the sim", runner.ErrBackend, controlplane.KubernetesVersion)

// prepareCanary reads a flagger scenario for the local backend.
func prepareCanary(sc *scenario.Scenario, cfg Config, opts runner.Options) (*run, error) {
	canary, objects, err := cluster.DecodeCanary(sc)
	if err != nil {
		return nil, err
	}
	switch flagger.MeshFor(&canary.Manifests.Canary, sc.Spec.MeshProvider) {
	case flagger.MeshIstio:
	case flagger.MeshLinkerd:
		return nil, fmt.Errorf("%s: provider linkerd: %w", canary.Where, ErrLinkerd)
	default:
		return nil, fmt.Errorf("%w: %s: provider %q: the local backend runs Flagger canaries on Istio only (its CRDs are the only mesh CRDs installed)",
			runner.ErrBackend, canary.Where, canary.Provider)
	}
	return &run{cfg: cfg, sc: sc, opts: opts, canary: canary, objects: objects, crashes: map[scenario.Target]crash{}}, nil
}

// executeCanary runs a flagger scenario: Flagger installed (built on first
// use), a Flagger controller of the run's own pointed at the data plane's
// Prometheus API and event webhook, and the emulated loadtester served
// beside them.
func (r *run) executeCanary(ctx context.Context, state *controlplane.State) (*result.Result, error) {
	r.state = state
	client, mapper, err := clients(state)
	if err != nil {
		return nil, err
	}
	builder, err := r.cfg.builder()
	if err != nil {
		return nil, err
	}
	binary, err := controlplane.InstallFlagger(ctx, state, builder)
	if err != nil {
		return nil, fmt.Errorf("%w: installing Flagger: %w", runner.ErrBackend, err)
	}
	r.plane, err = newPlane()
	if err != nil {
		return nil, err
	}
	defer r.plane.close()
	r.plane.routed, r.plane.workloads = true, true
	r.plane.canaryKey, r.plane.entry = r.canary.CanaryHost(), r.canary.Apex
	r.loadtester = loadtester.New(r.Now, r.startLoad)
	r.loadtester.Declare(r.canary.Manifests.DeclaredTasks())
	loadtesterURL := r.plane.handle(loadtesterPath, http.StripPrefix(strings.TrimSuffix(loadtesterPath, "/"), r.loadtester))
	eventsURL := r.plane.handle(eventsPath, cluster.FlaggerEventHandler(r.flaggerMessage))
	if err := r.rewriteCanaryAddresses(eventsURL, loadtesterURL); err != nil {
		return nil, err
	}

	r.flagger, err = state.StartFlagger(ctx, controlplane.FlaggerOptions{Binary: binary, Namespace: r.canary.Namespace,
		MetricsServer: r.plane.URL, EventWebhook: eventsURL, MeshProvider: flagger.MeshIstio})
	if err != nil {
		return nil, fmt.Errorf("%w: starting Flagger: %w", runner.ErrBackend, err)
	}
	r.log().Info("Flagger started for the run", "namespace", r.canary.Namespace, "ready after", r.flagger.Ready.Sub(r.flagger.Started).Round(time.Millisecond), "log", r.flagger.Log)
	// Stopped after the Session has deleted what it applied.
	defer r.flagger.Stop()

	r.sessionMu.Lock()
	r.session = &cluster.Session{Scenario: r.sc, Options: r.opts, Backend: Name, Canary: r.canary,
		Client: client, Mapper: mapper, Objects: r.objects, Plane: r, HealthyTimeout: r.cfg.HealthyTimeout,
		ReleaseNote: r.releaseNote(), Log: r.cfg.Log}
	r.sessionMu.Unlock()
	return r.session.Run(ctx)
}

// flaggerMessage hands a message of Flagger's event webhook to the run.
func (r *run) flaggerMessage(m cluster.FlaggerMessage) {
	r.sessionMu.Lock()
	session := r.session
	r.sessionMu.Unlock()
	if session != nil {
		session.FlaggerMessage(m)
	}
}

// canaryConfig is the data plane of a flagger run, as the sim sets it up
// for its model: the target as the app, Istio's telemetry, the apex
// Service as the routed host, and the Services' port.
func (r *run) canaryConfig(cfg dataplane.Config) dataplane.Config {
	cfg.App, cfg.Mesh, cfg.RoutedHost, cfg.Port = r.canary.Target, flagger.MeshIstio, r.canary.Apex, r.canary.Port
	return cfg
}

// OpenGate opens the emulated loadtester's gate of the Canary (promote).
func (r *run) OpenGate(canary, namespace string) { r.loadtester.OpenGate(canary, namespace) }

// OpenRollback opens its rollback gate (abort).
func (r *run) OpenRollback(canary, namespace string) { r.loadtester.OpenRollback(canary, namespace) }

var _ cluster.Gates = (*run)(nil)

// startLoad is the loadtester starting a task: the data plane sends the
// load of a hey or wrk command from the task's start (the runner's next
// 100 ms tick) to its end, as the sim does.
func (r *run) startLoad(task loadtester.Task) {
	if task.Err != nil || task.EndAt <= task.StartAt {
		r.log().Debug("loadtester task sends no load", "canary", task.Canary, "cmd", task.Cmd, "reason", task.Err)
		return
	}
	load := task.Load
	r.plane.addLoad(task.StartAt, dataplane.Load{Host: load.Host, RPS: load.RPS, Concurrency: load.Concurrency,
		ClosedLoop: load.ClosedLoop, Headers: load.Headers, Until: task.EndAt, MaxRequests: load.Requests})
}

// rewriteCanaryAddresses points what Flagger calls at the data plane: the
// MetricTemplates' Prometheus address and the Canary's metricsServer at
// its Prometheus API, webhooks to a loadtester (the first label of the
// host contains "loadtester") at the emulated one, and event hooks at the
// event receiver. Other addresses are left alone; a MetricTemplate of
// another provider than Prometheus cannot be answered.
func (r *run) rewriteCanaryAddresses(eventsURL, loadtesterURL string) error {
	for _, obj := range r.objects {
		switch obj.GetKind() {
		case "MetricTemplate":
			provider, _, _ := unstructured.NestedString(obj.Object, "spec", "provider", "type")
			if provider != "prometheus" {
				return fmt.Errorf("%w: %s: MetricTemplate %s uses provider %q; the local backend's data plane answers Prometheus queries only",
					runner.ErrBackend, obj.Where, obj.GetName(), provider)
			}
			unstructured.SetNestedField(obj.Object, r.plane.URL, "spec", "provider", "address")
			r.rewritten = append(r.rewritten, "MetricTemplate "+obj.GetName()+" provider.address")
		case "Canary":
			if _, found, _ := unstructured.NestedString(obj.Object, "spec", "metricsServer"); found {
				unstructured.SetNestedField(obj.Object, r.plane.URL, "spec", "metricsServer")
				r.rewritten = append(r.rewritten, "Canary "+obj.GetName()+" metricsServer")
			}
			webhooks, _, _ := unstructured.NestedSlice(obj.Object, "spec", "analysis", "webhooks")
			for _, w := range webhooks {
				hook, _ := w.(map[string]any)
				name, _ := hook["name"].(string)
				address, _ := hook["url"].(string)
				switch {
				case hook["type"] == "event":
					hook["url"] = eventsURL
					r.rewritten = append(r.rewritten, "Canary "+obj.GetName()+" event webhook "+name)
				case flagger.IsLoadtesterURL(address):
					parsed, err := url.Parse(address)
					if err != nil {
						return fmt.Errorf("%s: webhook %s url %q: %w", obj.Where, name, address, err)
					}
					hook["url"] = strings.TrimSuffix(loadtesterURL, "/") + "/" + strings.TrimPrefix(parsed.RequestURI(), "/")
					r.rewritten = append(r.rewritten, "Canary "+obj.GetName()+" webhook "+name+" (loadtester)")
				}
			}
			if len(webhooks) > 0 {
				unstructured.SetNestedSlice(obj.Object, webhooks, "spec", "analysis", "webhooks")
			}
		}
	}
	return nil
}

// followWorkloads has the data plane follow Deployments as Flagger
// arranges them: each ReplicaSet belongs to its Deployment (the mesh's
// destination_workload), and each Service selects the pods of the
// Deployment whose pods carry its app label.
func (p *plane) followWorkloads(snapshot cluster.Snapshot) {
	owners := map[string]string{} // app label value to Deployment
	hashes := make([]string, 0, len(snapshot.ReplicaSets))
	for hash, rs := range snapshot.ReplicaSets {
		hashes = append(hashes, hash)
		owners[rs.Workload] = rs.Owner
	}
	sort.Strings(hashes)
	for _, hash := range hashes {
		rs := snapshot.ReplicaSets[hash]
		if p.world.ReplicaSet(hash) == nil {
			p.world.CreateWorkloadReplicaSet(rs.Owner, rs.Hash, rs.Image)
		}
		p.world.Observe(rs.Hash, rs.Image, rs.Desired, rs.Ready)
	}
	for _, rs := range p.world.ReplicaSets() {
		if _, ok := snapshot.ReplicaSets[rs.Hash]; !ok && rs.Replicas() > 0 {
			p.world.Observe(rs.Hash, rs.Image, 0, 0) // deleted
		}
	}
	names := make([]string, 0, len(snapshot.ServiceWorkloads))
	for name := range snapshot.ServiceWorkloads {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		label := snapshot.ServiceWorkloads[name]
		owner, ok := owners[label]
		if !ok {
			owner = label // Flagger names the primary's pods after it
		}
		p.world.SetWorkloadService(name, owner)
	}
}

// addLoad starts a load generator's traffic at a run time.
func (p *plane) addLoad(at time.Duration, load dataplane.Load) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loop == nil {
		return
	}
	p.advanceLocked()
	p.loop.At(at, func() { p.world.AddLoad(load) })
}
