// Package platform installs what the kind backend runs on: Istio (its CRDs,
// istiod and an ingress gateway), a Prometheus that scrapes the Envoy
// proxies, and the Argo Rollouts controller. Each install is a named step
// for provision.Up (Steps), applied with server-side apply (field manager
// canarylab, through client-go's dynamic client; no kubectl, no helm
// binary) and waited for with a deadline: CRDs until Established,
// Deployments until status.availableReplicas reaches spec.replicas.
//
// Every version and digest is pinned in manifests/platform/versions.yaml,
// which is embedded in the binary; a file whose sha256 differs from the
// pinned one is refused, and so is one whose sha256 is missing there, but
// for Istio's charts (below).
//
//   - Argo Rollouts: manifests/install.yaml of the Go module
//     github.com/argoproj/argo-rollouts at the pinned version, from the
//     module cache (go mod download, as the local backend gets its CRDs),
//     sha256-checked, its controller image replaced by the pinned one.
//   - Prometheus: canarylab's own manifests/platform/prometheus.yaml, with
//     the image pinned by tag and digest.
//   - Istio: see below.
//
// # How Istio is installed, and why
//
// Istio is installed from the three Helm charts it releases (base, istiod,
// gateway), downloaded at install time from Istio's chart repository as
// <name>-<version>.tgz, each checked against the sha256 versions.yaml pins
// for it, rendered in process with Helm's Go SDK (helm.sh/helm/v3: the chart
// loader, chartutil's values and capabilities, the template engine; what
// `helm template` runs) and applied like every other object here. The
// alternatives, and why not:
//
//   - istioctl or Istio's operator code as a Go dependency: the Go module
//     proxy serves istio.io/istio only as pseudo-versions (the 1.x tags are
//     not module versions), so "1.31.1" could only be approximated by a
//     commit, and the dependency is enormous.
//   - Rendered YAML committed to this repository: thousands of lines of
//     upstream output to review on every upgrade, and no record of which
//     release they came from but a comment.
//   - The helm binary: one more tool to install, and its release records
//     would give the cluster a second owner.
//
// The charts are Istio's documented install method, versioned exactly, and
// small; the digest check makes the download as fixed as a module. Where
// a chart's digest could not be computed (versions.yaml says
// TODO-fill-on-a-machine-with-network), its step checks the download,
// on first use, against the digest the chart repository's index.yaml lists
// for the pinned version instead (refusing it if they differ), caches the
// verified archive, and logs the digest to pin; later runs take it from the
// cache, without the network. That is trust on first use: the index comes
// from the same place as the chart, so it catches a corrupt or swapped
// download, not a compromised repository; `canarylab platform digests
// --write` pins the digests in versions.yaml, and a pinned digest is the
// only one checked. Helm's release
// bookkeeping and hooks are not used: `helm list` does not show these
// installs (the cluster is canarylab's, and deleted whole), and a chart
// with hooks is refused rather than half installed.
package platform

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/cluster/local/controlplane"
)

// DefaultStepTimeout bounds each step's wait when Options.StepTimeout is
// zero: the first install pulls every image through the kind node.
const DefaultStepTimeout = 10 * time.Minute

// Step names, in install order.
const (
	StepIstioBase    = "istio-base"
	StepIstiod       = "istiod"
	StepIstioGateway = "istio-gateway"
	StepPrometheus   = "prometheus"
	StepArgoRollouts = "argo-rollouts"
)

// Options of the platform installs.
type Options struct {
	// Versions are the pins; nil reads the embedded versions.yaml.
	Versions *Versions
	// Builder finds the Argo Rollouts module in the module cache (its Go
	// field names the toolchain); nil uses go on PATH.
	Builder *controlplane.Builder
	// CacheDir keeps downloaded chart archives; default
	// <user cache dir>/canarylab/platform.
	CacheDir string
	// HTTPClient downloads the charts; nil is http.DefaultClient.
	HTTPClient  *http.Client
	StepTimeout time.Duration
	Log         *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Versions == nil {
		versions, err := LoadVersions()
		if err != nil {
			return o, err
		}
		o.Versions = versions
	}
	if o.Builder == nil {
		o.Builder = &controlplane.Builder{}
	}
	if o.CacheDir == "" {
		dir, err := controlplane.DefaultCacheDir()
		if err != nil {
			return o, err
		}
		o.CacheDir = filepath.Join(dir, "platform")
	}
	if o.StepTimeout == 0 {
		o.StepTimeout = DefaultStepTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// install is one step: what it applies. objects may ask the cluster for
// its capabilities (Helm charts render for a Kubernetes version); every
// check that needs no cluster (digests) comes before that question.
type install struct {
	name    string
	objects func(ctx context.Context, opts Options, caps func() (*chartutil.Capabilities, error)) ([]*unstructured.Unstructured, error)
}

var installs = []install{
	{StepIstioBase, istioStep(ChartBase)},
	{StepIstiod, istioStep(ChartIstiod)},
	{StepIstioGateway, gatewayStep},
	{StepPrometheus, func(_ context.Context, opts Options, _ func() (*chartutil.Capabilities, error)) ([]*unstructured.Unstructured, error) {
		return PrometheusObjects(opts.Versions)
	}},
	{StepArgoRollouts, func(ctx context.Context, opts Options, _ func() (*chartutil.Capabilities, error)) ([]*unstructured.Unstructured, error) {
		return ArgoRolloutsObjects(ctx, opts.Versions, opts.Builder)
	}},
}

func istioStep(chart string) func(context.Context, Options, func() (*chartutil.Capabilities, error)) ([]*unstructured.Unstructured, error) {
	return func(ctx context.Context, opts Options, caps func() (*chartutil.Capabilities, error)) ([]*unstructured.Unstructured, error) {
		fetcher := &ChartFetcher{Versions: opts.Versions, CacheDir: filepath.Join(opts.CacheDir, "charts"), Client: opts.HTTPClient, Log: opts.Log}
		archive, err := fetcher.Archive(ctx, chart)
		if err != nil {
			return nil, err
		}
		capabilities, err := caps()
		if err != nil {
			return nil, err
		}
		return istioObjects(archive, chart, opts.Versions.Istio.Version, capabilities)
	}
}

// gatewayStep installs the ingress gateway chart and canarylab's Gateway,
// and checks that the chart gave kind's NodePort to http.
func gatewayStep(ctx context.Context, opts Options, caps func() (*chartutil.Capabilities, error)) ([]*unstructured.Unstructured, error) {
	objects, err := istioStep(ChartGateway)(ctx, opts, caps)
	if err != nil {
		return nil, err
	}
	found := false
	for _, obj := range objects {
		if obj.GetKind() == "Service" && obj.GetName() == IngressGatewayRelease {
			found = true
			if port := nodePortOf(obj, "http2"); port != provision.IngressHTTPNodePort {
				return nil, fmt.Errorf("the gateway chart rendered Service %s with http2 nodePort %d, not %d (where kind publishes the ingress): its values have changed",
					IngressGatewayRelease, port, provision.IngressHTTPNodePort)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("the gateway chart rendered no Service %s", IngressGatewayRelease)
	}
	gateway, err := GatewayObjects()
	if err != nil {
		return nil, err
	}
	return append(objects, gateway...), nil
}

// StepNames are the names of Steps, in order.
func StepNames() []string {
	var names []string
	for _, inst := range installs {
		names = append(names, inst.name)
	}
	return names
}

// Steps are the platform installs as steps of provision.Up, in install
// order: Istio base, istiod, the ingress gateway, Prometheus, Argo
// Rollouts. Each applies its objects to the cluster in
// provision.State.Kubeconfig and waits for them within
// Options.StepTimeout; its errors name the step and the object.
func Steps(opts Options) []provision.Step {
	var steps []provision.Step
	for _, inst := range installs {
		steps = append(steps, provision.Step{Name: inst.name, Run: func(ctx context.Context, cluster *provision.State) error {
			if err := runInstall(ctx, opts, inst, cluster.Kubeconfig); err != nil {
				return fmt.Errorf("platform install %s: %w", inst.name, err)
			}
			return nil
		}})
	}
	return steps
}

func runInstall(ctx context.Context, opts Options, inst install, kubeconfig string) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	var applier *Applier
	connect := func() (*Applier, error) {
		if applier != nil {
			return applier, nil
		}
		config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("reading kubeconfig %s: %w", kubeconfig, err)
		}
		applier, err = NewApplier(config, opts.Log)
		return applier, err
	}
	objects, err := inst.objects(ctx, opts, func() (*chartutil.Capabilities, error) {
		applier, err := connect()
		if err != nil {
			return nil, err
		}
		return applier.Capabilities()
	})
	if err != nil {
		return err
	}
	if _, err := connect(); err != nil {
		return err
	}
	return applier.Install(ctx, inst.name, objects, opts.StepTimeout)
}
