// Package upstream replays the upstream projects' own example manifests,
// unmodified, read from the module cache at the versions go.mod pins: the
// Argo Rollouts examples, getting-started guides and e2e fixtures, and
// Flagger's podinfo kustomization, tutorials (YAML inside Markdown) and e2e
// scripts (Canaries inside heredocs). Each set must either run to the end
// the real controller reaches, or be refused naming what canarylab cannot
// model or what is wrong with the input. docs/upstream-manifests.md explains
// each expectation with the upstream source that proves it.
package upstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/canarylab/canarylab/internal/cli"
)

const (
	argoModule    = "github.com/argoproj/argo-rollouts"
	flaggerModule = "github.com/fluxcd/flagger"
)

// source is one file of an upstream module. A Markdown or shell file is
// not a manifest: block picks the n-th (1-based) fenced YAML block or
// heredoc holding a complete Canary, and the file's MetricTemplates
// (blocks of their own) are added next to it.
type source struct {
	module string
	path   string
	block  int
}

func ar(path string) source { return source{module: argoModule, path: path} }
func fl(path string) source { return source{module: flaggerModule, path: path} }
func flBlock(path string, n int) source {
	return source{module: flaggerModule, path: path, block: n}
}

// flMetrics is the MetricTemplates of a shell file (the e2e scripts'
// shared test-utils.sh), without a Canary.
func flMetrics(path string) source {
	return source{module: flaggerModule, path: path, block: metricsOnly}
}

const metricsOnly = -1

// want is how a set ends: an outcome (exit 0, the scenario expects it), or
// an exit code and a text stderr must hold (the refused feature or the
// invalid field).
type want struct {
	outcome string
	exit    int
	message string
}

func outcome(o string) want       { return want{outcome: o} }
func refused(message string) want { return want{exit: cli.ExitBackend, message: message} }
func invalid(message string) want { return want{exit: cli.ExitInvalid, message: message} }
func (w want) String() string {
	if w.outcome != "" {
		return w.outcome
	}
	return fmt.Sprintf("exit %d %q", w.exit, w.message)
}

type set struct {
	name  string
	files []source
	// mesh is the scenario's spec.meshProvider (Flagger, a Canary without
	// spec.provider).
	mesh   string
	events string
	want   want
}

const (
	promote       = `[{at: 60s, action: promote}]`
	promoteTwice  = `[{at: 60s, action: promote}, {at: 120s, action: promote}]`
	abort         = `[{at: 60s, action: abort}]`
	demoStable    = "argoproj/rollouts-demo:blue"
	podinfoStable = "ghcr.io/stefanprodan/podinfo:6.0.0"
)

var (
	gsIstio = []source{ar("docs/getting-started/istio/rollout.yaml"), ar("docs/getting-started/istio/services.yaml"),
		ar("docs/getting-started/istio/multipleVirtualsvc.yaml"), ar("docs/getting-started/istio/gateway.yaml")}
	analysisTemplates = ar("examples/analysis-templates.yaml")
	clusterTemplates  = ar("examples/cluster-analysis-templates.yaml")
	podinfoTutorial   = []source{fl("kustomize/podinfo/deployment.yaml"), fl("kustomize/podinfo/hpa.yaml")}
	podinfoE2E        = []source{fl("test/workloads/deployment.yaml"), fl("test/workloads/secret.yaml")}
	podinfoDaemonSet  = []source{fl("test/workloads/daemonset.yaml"), fl("test/workloads/secret.yaml")}
	// gatewayAPIMetrics are the MetricTemplates test/gatewayapi/run.sh
	// creates (test-utils.sh) before its scripts' Canaries.
	gatewayAPIMetrics = flMetrics("test/gatewayapi/test-utils.sh")
)

func with(base []source, more ...source) []source {
	return append(append([]source{}, base...), more...)
}

// argoSets are the Argo Rollouts examples, getting-started guides and e2e
// fixtures (test/e2e) as a user would apply them. Sets canarylab gets
// wrong are not here: docs/upstream-manifests.md lists them.
var argoSets = []set{
	// examples/
	{name: "examples/rollout-canary", files: []source{ar("examples/rollout-canary.yaml")}, want: outcome("paused")},
	{name: "examples/rollout-canary promoted", files: []source{ar("examples/rollout-canary.yaml")}, events: promote, want: outcome("promoted")},
	{name: "examples/rollout-rolling-update", files: []source{ar("examples/rollout-rolling-update.yaml")}, want: outcome("promoted")},
	{name: "examples/notifications", files: []source{ar("examples/notifications/rollout-canary.yaml"), ar("examples/notifications/configmap.yaml")}, want: outcome("paused")},
	{name: "examples/notifications promoted", files: []source{ar("examples/notifications/rollout-canary.yaml"), ar("examples/notifications/configmap.yaml")}, events: promote, want: outcome("promoted")},
	{name: "examples/istio/istio-subset-split", files: []source{ar("examples/istio/istio-subset-split.yaml")}, want: outcome("paused")},
	{name: "examples/istio/istio-subset-split promoted", files: []source{ar("examples/istio/istio-subset-split.yaml")}, events: promote, want: outcome("promoted")},
	{name: "examples/istio/istio-mirror", files: []source{ar("examples/istio/istio-mirror.yaml")}, want: refused("trafficRouting.managedRoutes")},
	{name: "examples/rollout-bluegreen", files: []source{ar("examples/rollout-bluegreen.yaml")}, want: refused("the blueGreen strategy")},
	{name: "examples/rollout-canary-preview", files: []source{ar("examples/rollout-canary-preview.yaml")}, want: refused("step 0: experiment")},
	{name: "examples/rollout-baseline-vs-canary", files: []source{ar("examples/rollout-baseline-vs-canary.yaml")}, want: refused("step 0: experiment")},
	{name: "examples/rollout-experiment-step", files: []source{ar("examples/rollout-experiment-step.yaml"), analysisTemplates}, want: refused("step 1: experiment")},
	{name: "examples/rollout-analysis-step", files: []source{ar("examples/rollout-analysis-step.yaml"), analysisTemplates, clusterTemplates}, want: refused("provider job")},
	{name: "examples/rollout-analysis-step without the ClusterAnalysisTemplate", files: []source{ar("examples/rollout-analysis-step.yaml"), analysisTemplates}, want: invalid(`references ClusterAnalysisTemplate "always-pass", which is not among the scenario's manifests`)},
	{name: "examples/rollout-background-analysis", files: []source{ar("examples/rollout-background-analysis.yaml"), analysisTemplates}, want: refused("provider job")},
	{name: "examples/cluster-analysis-templates", files: []source{ar("examples/rollout-canary.yaml"), clusterTemplates}, want: refused("provider job")},
	{name: "examples/rollout-template-ref", files: []source{ar("examples/rollout-template-ref.yaml")}, want: refused("spec.workloadRef")},
	{name: "examples/workload-ref", files: []source{ar("examples/workload-ref/workload-ref.yaml")}, want: refused("spec.workloadRef")},
	{name: "examples/ambassador", files: []source{ar("examples/ambassador/rollout.yaml"), ar("examples/ambassador/echo-service.yaml"), ar("examples/ambassador/echo-mapping.yaml"), ar("examples/ambassador/resolver.yaml")}, want: refused("trafficRouting.ambassador")},
	{name: "examples/appmesh", files: []source{ar("examples/appmesh/canary-rollout.yaml"), ar("examples/appmesh/canary-service.yaml")}, want: refused("trafficRouting.appMesh")},
	{name: "examples/apisix", files: []source{ar("examples/apisix/rollout.yaml"), ar("examples/apisix/services.yaml"), ar("examples/apisix/route.yaml")}, want: refused("step 0: setHeaderRoute")},
	{name: "examples/experiment-with-analysis", files: []source{ar("examples/experiment-with-analysis.yaml")}, want: refused("Experiment experiment-with-analysis")},
	{name: "examples/rollout-secret", files: []source{ar("examples/rollout-secret.yaml")}, want: refused("provider web")},
	{name: "examples/traffic-management/rollout-linkerd", files: []source{ar("examples/traffic-management/rollout-linkerd.yaml"), ar("examples/traffic-management/job.yaml")}, want: invalid(`linkerd.io/inject in body must be of type string`)},
	{name: "examples/traffic-routing-experiment-step istio", files: []source{ar("examples/traffic-routing-experiment-step/istio-host-split-experiment-step.yaml")}, want: refused("step 1: experiment")},
	{name: "examples/traffic-routing-experiment-step alb", files: []source{ar("examples/traffic-routing-experiment-step/rollout-alb-experiment-step.yaml")}, want: refused("trafficRouting.alb")},
	{name: "examples/traffic-routing-experiment-step smi", files: []source{ar("examples/traffic-routing-experiment-step/rollout-smi-experiment-step.yaml")}, want: refused("trafficRouting.smi")},
	{name: "examples/helm-blue-green unrendered", files: []source{ar("examples/helm-blue-green/templates/rollout.yaml"), ar("examples/helm-blue-green/templates/services.yaml")}, want: invalid("malformed YAML")},

	// docs/getting-started/
	{name: "getting-started/basic", files: []source{ar("docs/getting-started/basic/rollout.yaml"), ar("docs/getting-started/basic/service.yaml")}, want: outcome("paused")},
	{name: "getting-started/basic promoted", files: []source{ar("docs/getting-started/basic/rollout.yaml"), ar("docs/getting-started/basic/service.yaml")}, events: promote, want: outcome("promoted")},
	{name: "getting-started/istio", files: gsIstio, want: outcome("paused")},
	{name: "getting-started/istio promoted", files: gsIstio, events: promote, want: outcome("promoted")},
	{name: "getting-started/istio with virtualsvc.yaml", files: []source{ar("docs/getting-started/istio/rollout.yaml"), ar("docs/getting-started/istio/services.yaml"), ar("docs/getting-started/istio/virtualsvc.yaml")}, want: invalid(`VirtualService "rollouts-demo-vsvc1" is not among the scenario's manifests`)},
	{name: "getting-started/alb", files: []source{ar("docs/getting-started/alb/rollout.yaml"), ar("docs/getting-started/alb/services.yaml"), ar("docs/getting-started/alb/ingress.yaml")}, want: refused("trafficRouting.alb")},
	{name: "getting-started/nginx", files: []source{ar("docs/getting-started/nginx/rollout.yaml"), ar("docs/getting-started/nginx/services.yaml"), ar("docs/getting-started/nginx/ingress.yaml")}, want: refused("trafficRouting.nginx")},
	{name: "getting-started/smi", files: []source{ar("docs/getting-started/smi/rollout.yaml"), ar("docs/getting-started/smi/services.yaml"), ar("docs/getting-started/smi/ingress.yaml")}, want: refused("trafficRouting.smi")},
	{name: "getting-started/mixed", files: []source{ar("docs/getting-started/mixed/rollout.yaml"), ar("docs/getting-started/mixed/services.yaml"), ar("docs/getting-started/mixed/ingress.yaml")}, want: refused("trafficRouting.nginx")},

	// test/e2e/ runs to an end
	{name: "e2e/istio/istio-host-split", files: []source{ar("test/e2e/istio/istio-host-split.yaml")}, want: outcome("paused")},
	{name: "e2e/istio/istio-host-split promoted", files: []source{ar("test/e2e/istio/istio-host-split.yaml")}, events: promote, want: outcome("promoted")},
	{name: "e2e/istio/istio-host-http-tls-split", files: []source{ar("test/e2e/istio/istio-host-http-tls-split.yaml")}, events: promote, want: outcome("promoted")},
	{name: "e2e/istio/istio-host-split-update-in-middle", files: []source{ar("test/e2e/istio/istio-host-split-update-in-middle.yaml")}, want: outcome("paused")},
	{name: "e2e/istio/istio-subset-split", files: []source{ar("test/e2e/istio/istio-subset-split.yaml")}, events: promote, want: outcome("promoted")},
	{name: "e2e/istio/istio-subset-split-single-route", files: []source{ar("test/e2e/istio/istio-subset-split-single-route.yaml")}, want: outcome("paused")},
	{name: "e2e/istio/istio-rollout-abort-delete-all-canary-pods promoted", files: []source{ar("test/e2e/istio/istio-rollout-abort-delete-all-canary-pods.yaml")}, events: promoteTwice, want: outcome("promoted")},
	{name: "e2e/istio/istio-rollout-abort-delete-all-canary-pods aborted", files: []source{ar("test/e2e/istio/istio-rollout-abort-delete-all-canary-pods.yaml")}, events: abort, want: outcome("rolled-back")},
	{name: "e2e/functional/rollout-basic", files: []source{ar("test/e2e/functional/rollout-basic.yaml")}, events: promote, want: outcome("promoted")},
	{name: "e2e/functional/ephemeral-labels", files: []source{ar("test/e2e/functional/ephemeral-labels.yaml")}, want: outcome("paused")},
	{name: "e2e/functional/rollout-canary-with-pause", files: []source{ar("test/e2e/functional/rollout-canary-with-pause.yaml")}, want: outcome("paused")},
	{name: "e2e/functional/rollout-canary-with-pause promoted", files: []source{ar("test/e2e/functional/rollout-canary-with-pause.yaml")}, events: promote, want: outcome("promoted")},
	{name: "e2e/istio/istio-subset-split-in-stable-downscale-after-canary-abort", files: []source{ar("test/e2e/istio/istio-subset-split-in-stable-downscale-after-canary-abort.yaml")}, want: outcome("paused")},
	{name: "e2e/istio/istio-subset-split-in-stable-downscale-after-canary-abort aborted", files: []source{ar("test/e2e/istio/istio-subset-split-in-stable-downscale-after-canary-abort.yaml")}, events: abort, want: outcome("rolled-back")},
	{name: "e2e/functional/canary-scaledownonabortnotrafficrouting", files: []source{ar("test/e2e/functional/canary-scaledownonabortnotrafficrouting.yaml")}, events: abort, want: outcome("rolled-back")},

	// test/e2e/ refused by name
	{name: "e2e/alb/rollout-alb-experiment", files: []source{ar("test/e2e/alb/rollout-alb-experiment.yaml")}, want: refused("trafficRouting.alb")},
	{name: "e2e/alb/rollout-alb-experiment-no-setweight", files: []source{ar("test/e2e/alb/rollout-alb-experiment-no-setweight.yaml")}, want: refused("trafficRouting.alb")},
	{name: "e2e/alb/rollout-alb-multi-ingress-experiment", files: []source{ar("test/e2e/alb/rollout-alb-multi-ingress-experiment.yaml")}, want: refused("trafficRouting.alb")},
	{name: "e2e/alb/rollout-alb-multi-ingress-experiment-no-setweight", files: []source{ar("test/e2e/alb/rollout-alb-multi-ingress-experiment-no-setweight.yaml")}, want: refused("trafficRouting.alb")},
	{name: "e2e/apisix/rollout-apisix-canary-set-header", files: []source{ar("test/e2e/apisix/rollout-apisix-canary-set-header.yaml")}, want: refused("trafficRouting.apisix")},
	{name: "e2e/apisix/rollout-apisix-canary", files: []source{ar("test/e2e/apisix/rollout-apisix-canary.yaml")}, want: refused("trafficRouting.apisix")},
	{name: "e2e/appmesh/appmesh-canary-rollout", files: []source{ar("test/e2e/appmesh/appmesh-canary-rollout.yaml")}, want: refused("trafficRouting.appMesh")},
	{name: "e2e/functional/alb-bluegreen-rollout", files: []source{ar("test/e2e/functional/alb-bluegreen-rollout.yaml")}, want: refused("the blueGreen strategy")},
	{name: "e2e/functional/rollout-bluegreen", files: []source{ar("test/e2e/functional/rollout-bluegreen.yaml")}, want: refused("the blueGreen strategy")},
	{name: "e2e/functional/alb-canary-rollout", files: []source{ar("test/e2e/functional/alb-canary-rollout.yaml")}, want: refused("trafficRouting.alb")},
	{name: "e2e/functional/alb-canary-multi-ingress-rollout", files: []source{ar("test/e2e/functional/alb-canary-multi-ingress-rollout.yaml")}, want: refused("trafficRouting.alb")},
	{name: "e2e/functional/alb-pingpong-rollout", files: []source{ar("test/e2e/functional/alb-pingpong-rollout.yaml")}, want: refused("canary.pingPong")},
	{name: "e2e/functional/alb-pingpong-multi-ingress-rollout", files: []source{ar("test/e2e/functional/alb-pingpong-multi-ingress-rollout.yaml")}, want: refused("canary.pingPong")},
	{name: "e2e/functional/albmesh-pingpong-stablecanary-rollout", files: []source{ar("test/e2e/functional/albmesh-pingpong-stablecanary-rollout.yaml")}, want: refused("trafficRouting.alb")},
	{name: "e2e/functional/canary-dynamic-stable-scale", files: []source{ar("test/e2e/functional/canary-dynamic-stable-scale.yaml")}, want: refused("trafficRouting.alb")},
	{name: "e2e/functional/canary-scaledowndelay", files: []source{ar("test/e2e/functional/canary-scaledowndelay.yaml")}, want: refused("trafficRouting.alb")},
	{name: "e2e/functional/canary-scaledownonabort", files: []source{ar("test/e2e/functional/canary-scaledownonabort.yaml")}, want: refused("trafficRouting.alb")},
	{name: "e2e/functional/canary-unscaledownonabort", files: []source{ar("test/e2e/functional/canary-unscaledownonabort.yaml")}, want: refused("trafficRouting.alb")},
	{name: "e2e/functional/nginx-template", files: []source{ar("test/e2e/functional/nginx-template.yaml")}, want: invalid(`metadata.name: Invalid value: "REPLACEME": a lowercase RFC 1123 subdomain`)},
	{name: "e2e/functional/rollout-experiment-analysis", files: []source{ar("test/e2e/functional/rollout-experiment-analysis.yaml")}, want: refused("step 0: experiment")},
	{name: "e2e/functional/rollout-background-analysis", files: []source{ar("test/e2e/functional/rollout-background-analysis.yaml"), ar("test/e2e/functional/analysistemplate-web-background.yaml")}, want: refused("provider web")},
	{name: "e2e/functional/rollout-background-analysis-inconclusive", files: []source{ar("test/e2e/functional/rollout-background-analysis-inconclusive.yaml"), ar("test/e2e/functional/analysistemplate-web-background-inconclusive.yaml")}, want: refused("provider web")},
	{name: "e2e/functional/experiment-with-service", files: []source{ar("test/e2e/functional/experiment-with-service.yaml")}, want: refused("a standalone Experiment, with no Rollout")},
	{name: "e2e/functional/experiment-dry-run-analysis", files: []source{ar("test/e2e/functional/experiment-dry-run-analysis.yaml")}, want: refused("Experiment experiment-with-dry-run")},
	{name: "e2e/expectedfailures/malformed-rollout", files: []source{ar("test/e2e/expectedfailures/malformed-rollout.yaml")}, want: outcome("promoted")},
	{name: "e2e/expectedfailures/malformed-rollout-ephemeral", files: []source{ar("test/e2e/expectedfailures/malformed-rollout-ephemeral.yaml")}, want: outcome("promoted")},
	{name: "e2e/expectedfailures/experiment-failed-analysis", files: []source{ar("test/e2e/expectedfailures/experiment-failed-analysis.yaml")}, want: refused("Experiment experiment-failed-analysis")},
	{name: "e2e/functional/rollout-secret", files: []source{ar("test/e2e/functional/rollout-secret.yaml")}, want: refused("provider web")},
	{name: "e2e/functional/rollout-secret-withArgs", files: []source{ar("test/e2e/functional/rollout-secret-withArgs.yaml")}, want: refused("provider web")},
	{name: "e2e/functional/rollout-bg-analysis-withArgs", files: []source{ar("test/e2e/functional/rollout-bg-analysis-withArgs.yaml")}, want: refused("provider web")},
	{name: "e2e/functional/rollout-background-invalid-job", files: []source{ar("test/e2e/functional/rollout-background-invalid-job.yaml"), ar("test/e2e/functional/analysistemplate-long-running-job.yaml"), ar("test/e2e/functional/analysistemplate-invalid-image-job.yaml")}, want: refused("provider job")},
	{name: "e2e/functional/rollout-background-long-running-job", files: []source{ar("test/e2e/functional/rollout-background-long-running-job.yaml"), ar("test/e2e/functional/analysistemplate-long-running-job.yaml")}, want: refused("provider job")},
	{name: "e2e/functional/rollout-background-long-running-job-deadline", files: []source{ar("test/e2e/functional/rollout-background-long-running-job-deadline.yaml"), ar("test/e2e/functional/analysistemplate-long-running-job-deadline.yaml")}, want: refused("provider job")},
	{name: "e2e/functional/rollout-inline-analysis", files: []source{ar("test/e2e/functional/rollout-inline-analysis.yaml"), ar("test/e2e/functional/analysistemplate-sleep-job.yaml")}, want: refused("provider job")},
	{name: "e2e/functional/rollout-inline-invalid-image-job", files: []source{ar("test/e2e/functional/rollout-inline-invalid-image-job.yaml"), ar("test/e2e/functional/analysistemplate-invalid-image-job.yaml")}, want: refused("provider job")},
	{name: "e2e/functional/rollout-inline-long-running-job-deadline", files: []source{ar("test/e2e/functional/rollout-inline-long-running-job-deadline.yaml"), ar("test/e2e/functional/analysistemplate-long-running-job-deadline.yaml")}, want: refused("provider job")},
	{name: "e2e/functional/rollout-inline-multiple-analysis", files: []source{ar("test/e2e/functional/rollout-inline-multiple-analysis.yaml"), ar("test/e2e/functional/analysistemplate-multiple-job.yaml")}, want: refused("provider job")},
	{name: "e2e/functional/rollout-degraded-inline-multiple-analysis", files: []source{ar("test/e2e/functional/rollout-degraded-inline-multiple-analysis.yaml"), ar("test/e2e/functional/analysistemplate-fail-multiple-job.yaml")}, want: refused("provider job")},
	{name: "e2e/functional/rollout-rollback-window", files: []source{ar("test/e2e/functional/rollout-rollback-window.yaml"), ar("test/e2e/functional/analysistemplate-sleep-job.yaml")}, want: refused("provider job")},
	{name: "e2e/header-routing/alb-header-route", files: []source{ar("test/e2e/header-routing/alb-header-route.yaml")}, want: refused("trafficRouting.managedRoutes")},
	{name: "e2e/header-routing/alb-header-route-multi-ingress", files: []source{ar("test/e2e/header-routing/alb-header-route-multi-ingress.yaml")}, want: refused("trafficRouting.managedRoutes")},
	{name: "e2e/header-routing/istio-hr-host", files: []source{ar("test/e2e/header-routing/istio-hr-host.yaml")}, want: refused("trafficRouting.managedRoutes")},
	{name: "e2e/mirror-route/istio-mirror-host", files: []source{ar("test/e2e/mirror-route/istio-mirror-host.yaml")}, want: refused("trafficRouting.managedRoutes")},
	{name: "e2e/istio/istio-host-split-ping-pong", files: []source{ar("test/e2e/istio/istio-host-split-ping-pong.yaml")}, want: refused("canary.pingPong")},
	{name: "e2e/istio/istio-host-only-tls-split", files: []source{ar("test/e2e/istio/istio-host-only-tls-split.yaml")}, want: refused("trafficRouting.istio tlsRoutes/tcpRoutes")},
	{name: "e2e/istio/istio-host-split-experiment-step", files: []source{ar("test/e2e/istio/istio-host-split-experiment-step.yaml")}, want: refused("step 1: experiment")},
	{name: "e2e/istio/istio-subset-split-experiment-step", files: []source{ar("test/e2e/istio/istio-subset-split-experiment-step.yaml")}, want: refused("step 1: experiment")},
	{name: "e2e/smi/rollout-smi-experiment", files: []source{ar("test/e2e/smi/rollout-smi-experiment.yaml")}, want: refused("trafficRouting.smi")},
	{name: "e2e/smi_ingress/rollout-smi-ingress-canary", files: []source{ar("test/e2e/smi_ingress/rollout-smi-ingress-canary.yaml")}, want: refused("trafficRouting.smi")},
	{name: "e2e/step-plugin/template-rollout", files: []source{ar("test/e2e/step-plugin/template-rollout.yaml")}, want: invalid(`metadata.name: Invalid value: "step-plugin-e2e-$$name$$": a lowercase RFC 1123 subdomain`)},
	{name: "e2e/step-plugin/disabled-rollout", files: []source{ar("test/e2e/step-plugin/disabled-rollout.yaml")}, want: refused("step 0: plugin")},
	{name: "e2e/step-plugin/invalid-rollout", files: []source{ar("test/e2e/step-plugin/invalid-rollout.yaml")}, want: refused("step 0: plugin")},
}

const (
	istioTutorial   = "docs/gitbook/tutorials/istio-progressive-delivery.md"
	istioAB         = "docs/gitbook/tutorials/istio-ab-testing.md"
	linkerdTutorial = "docs/gitbook/tutorials/linkerd-progressive-delivery.md"
	istioE2E        = "test/istio/test-canary.sh"
	// gatewayAPITutorial holds 4 Canaries, then 5 fragments of one (the
	// fields a section changes, the rest "omitted for brevity").
	gatewayAPITutorial = "docs/gitbook/tutorials/gatewayapi-progressive-delivery.md"
)

// flaggerSets are Flagger's tutorials (with kustomize/podinfo, which they
// apply) and e2e scripts (with test/workloads, which test/workloads/init.sh
// applies).
var flaggerSets = []set{
	// docs/gitbook/tutorials/
	{name: "tutorial istio-progressive-delivery canary", files: with(podinfoTutorial, flBlock(istioTutorial, 1)), mesh: "istio", want: refused("autoscalerRef (HPA-driven replica counts)")},
	{name: "tutorial istio-progressive-delivery session affinity", files: with(podinfoTutorial, flBlock(istioTutorial, 2)), mesh: "istio", want: refused("analysis.sessionAffinity")},
	{name: "tutorial istio-ab-testing", files: with(podinfoTutorial, flBlock(istioAB, 1)), mesh: "istio", want: refused("autoscalerRef (HPA-driven replica counts)")},
	{name: "tutorial linkerd-progressive-delivery", files: with(podinfoTutorial, flBlock(linkerdTutorial, 1)), mesh: "linkerd", want: refused("autoscalerRef (HPA-driven replica counts)")},
	{name: "tutorial linkerd-progressive-delivery nginx ingress", files: with(podinfoTutorial, flBlock(linkerdTutorial, 2)), want: refused(`provider "nginx"`)},
	{name: "tutorial apisix-progressive-delivery", files: with(podinfoTutorial, flBlock("docs/gitbook/tutorials/apisix-progressive-delivery.md", 1)), want: refused(`provider "apisix"`)},
	{name: "tutorial gloo-progressive-delivery", files: with(podinfoTutorial, flBlock("docs/gitbook/tutorials/gloo-progressive-delivery.md", 1)), want: refused(`provider "gloo"`)},
	{name: "tutorial nginx-progressive-delivery", files: with(podinfoTutorial, flBlock("docs/gitbook/tutorials/nginx-progressive-delivery.md", 1)), want: refused(`provider "nginx"`)},
	{name: "tutorial skipper-progressive-delivery", files: with(podinfoTutorial, flBlock("docs/gitbook/tutorials/skipper-progressive-delivery.md", 1)), want: refused(`provider "skipper"`)},
	{name: "tutorial traefik-progressive-delivery", files: with(podinfoTutorial, flBlock("docs/gitbook/tutorials/traefik-progressive-delivery.md", 1)), want: refused(`provider "traefik"`)},
	{name: "tutorial kubernetes-blue-green", files: with(podinfoTutorial, flBlock("docs/gitbook/tutorials/kubernetes-blue-green.md", 1)), want: refused(`provider "kubernetes"`)},
	{name: "tutorial keda-scaledobject", files: with(podinfoTutorial, flBlock("docs/gitbook/tutorials/keda-scaledobject.md", 1)), want: refused(`provider "kubernetes"`)},
	{name: "tutorial contour-progressive-delivery", files: with(podinfoTutorial, flBlock("docs/gitbook/tutorials/contour-progressive-delivery.md", 1)), mesh: "contour", want: refused(`meshProvider "contour"`)},
	{name: "tutorial kuma-progressive-delivery", files: with(podinfoTutorial, flBlock("docs/gitbook/tutorials/kuma-progressive-delivery.md", 1)), mesh: "kuma", want: refused(`meshProvider "kuma"`)},
	{name: "tutorial gatewayapi-progressive-delivery 1", files: with(podinfoTutorial, flBlock(gatewayAPITutorial, 1)), mesh: "gatewayapi:v1", want: refused(`meshProvider "gatewayapi:v1"`)},
	{name: "tutorial gatewayapi-progressive-delivery 2", files: with(podinfoTutorial, flBlock(gatewayAPITutorial, 2)), mesh: "gatewayapi:v1", want: refused(`meshProvider "gatewayapi:v1"`)},
	{name: "tutorial gatewayapi-progressive-delivery 3", files: with(podinfoTutorial, flBlock(gatewayAPITutorial, 3)), mesh: "gatewayapi:v1", want: refused(`meshProvider "gatewayapi:v1"`)},
	{name: "tutorial gatewayapi-progressive-delivery 4", files: with(podinfoTutorial, flBlock(gatewayAPITutorial, 4)), mesh: "gatewayapi:v1", want: refused(`meshProvider "gatewayapi:v1"`)},
	{name: "tutorial gatewayapi-progressive-delivery fragment 5", files: with(podinfoTutorial, flBlock(gatewayAPITutorial, 5)), mesh: "gatewayapi:v1", want: invalid("spec.targetRef: Required value")},
	{name: "tutorial gatewayapi-progressive-delivery fragment 6", files: with(podinfoTutorial, flBlock(gatewayAPITutorial, 6)), mesh: "gatewayapi:v1", want: invalid("spec.targetRef: Required value")},
	{name: "tutorial gatewayapi-progressive-delivery fragment 7", files: with(podinfoTutorial, flBlock(gatewayAPITutorial, 7)), mesh: "gatewayapi:v1", want: invalid("spec.targetRef: Required value")},
	{name: "tutorial gatewayapi-progressive-delivery fragment 8", files: with(podinfoTutorial, flBlock(gatewayAPITutorial, 8)), mesh: "gatewayapi:v1", want: invalid("spec.targetRef: Required value")},
	{name: "tutorial gatewayapi-progressive-delivery fragment 9", files: with(podinfoTutorial, flBlock(gatewayAPITutorial, 9)), mesh: "gatewayapi:v1", want: invalid("spec.targetRef: Required value")},
	{name: "tutorial knative-progressive-delivery", files: []source{flBlock("docs/gitbook/tutorials/knative-progressive-delivery.md", 1)}, want: refused("targetRef Knative Service podinfo")},
	{name: "tutorial prometheus-operator", files: with(podinfoTutorial, flBlock("docs/gitbook/tutorials/prometheus-operator.md", 1)), want: refused(`provider "kubernetes"`)},

	// test/*/ e2e scripts
	{name: "e2e istio test-canary canary", files: with(podinfoE2E, flBlock(istioE2E, 1)), mesh: "istio", want: outcome("promoted")},
	{name: "e2e istio test-canary acceptance tests", files: with(podinfoE2E, flBlock(istioE2E, 2)), mesh: "istio", want: refused("runs a bash task on the loadtester")},
	{name: "e2e istio test-canary 3", files: with(podinfoE2E, flBlock(istioE2E, 3)), mesh: "istio", want: outcome("promoted")},
	{name: "e2e istio test-canary 4", files: with(podinfoE2E, flBlock(istioE2E, 4)), mesh: "istio", want: outcome("promoted")},
	{name: "e2e istio test-canary 5", files: with(podinfoE2E, flBlock(istioE2E, 5)), mesh: "istio", want: outcome("promoted")},
	{name: "e2e istio test-delegation", files: with(podinfoE2E, flBlock("test/istio/test-delegation.sh", 1)), mesh: "istio", want: outcome("promoted")},
	{name: "e2e istio test-skip-analysis", files: with(podinfoE2E, flBlock("test/istio/test-skip-analysis.sh", 1)), mesh: "istio", want: outcome("promoted")},
	{name: "e2e istio test-session-affinity", files: with(podinfoE2E, flBlock("test/istio/test-session-affinity.sh", 1)), mesh: "istio", want: refused("analysis.sessionAffinity")},
	{name: "e2e linkerd test-steps", files: with(podinfoE2E, flBlock("test/linkerd/test-steps.sh", 1)), mesh: "linkerd", want: outcome("promoted")},
	{name: "e2e linkerd test-canary 1", files: with(podinfoE2E, flBlock("test/linkerd/test-canary.sh", 1)), mesh: "linkerd", want: refused("runs a bash task on the loadtester")},
	{name: "e2e linkerd test-canary podinfo-service", files: with(podinfoE2E, flBlock("test/linkerd/test-canary.sh", 2)), mesh: "linkerd", want: invalid(`target Deployment "podinfo-service" is not among the scenario's manifests`)},
	{name: "e2e linkerd test-canary 3", files: with(podinfoE2E, flBlock("test/linkerd/test-canary.sh", 3)), mesh: "linkerd", want: refused("runs a bash task on the loadtester")},
	{name: "e2e apisix test-canary", files: with(podinfoE2E, flBlock("test/apisix/test-canary.sh", 1)), want: refused(`provider "apisix"`)},
	{name: "e2e contour test-canary", files: with(podinfoE2E, flBlock("test/contour/test-canary.sh", 1)), want: refused(`provider "contour"`)},
	{name: "e2e gloo test-canary", files: with(podinfoE2E, flBlock("test/gloo/test-canary.sh", 1)), want: refused(`provider "gloo"`)},
	{name: "e2e keda test-scaledobject", files: with(podinfoE2E, flBlock("test/keda/test-scaledobject.sh", 1)), want: refused(`provider "kubernetes"`)},
	{name: "e2e kubernetes test-deployment", files: with(podinfoE2E, flBlock("test/kubernetes/test-deployment.sh", 1)), want: refused(`provider "kubernetes"`)},
	{name: "e2e kubernetes test-hpa", files: with(podinfoE2E, flBlock("test/kubernetes/test-hpa.sh", 1)), want: refused(`provider "kubernetes"`)},
	{name: "e2e gatewayapi test-canary 1", files: with(podinfoE2E, flBlock("test/gatewayapi/test-canary.sh", 1), gatewayAPIMetrics), mesh: "gatewayapi:v1", want: refused(`meshProvider "gatewayapi:v1"`)},
	{name: "e2e gatewayapi test-canary 2", files: with(podinfoE2E, flBlock("test/gatewayapi/test-canary.sh", 2), gatewayAPIMetrics), mesh: "gatewayapi:v1", want: refused(`meshProvider "gatewayapi:v1"`)},
	{name: "e2e gatewayapi test-ab", files: with(podinfoE2E, flBlock("test/gatewayapi/test-ab.sh", 1), gatewayAPIMetrics), mesh: "gatewayapi:v1", want: refused(`meshProvider "gatewayapi:v1"`)},
	{name: "e2e gatewayapi test-bg", files: with(podinfoE2E, flBlock("test/gatewayapi/test-bg.sh", 1), gatewayAPIMetrics), mesh: "gatewayapi:v1", want: refused(`meshProvider "gatewayapi:v1"`)},
	{name: "e2e gatewayapi test-session-affinity", files: with(podinfoE2E, flBlock("test/gatewayapi/test-session-affinity.sh", 1), gatewayAPIMetrics), mesh: "gatewayapi:v1", want: refused(`meshProvider "gatewayapi:v1"`)},
	{name: "e2e kuma test-canary 1", files: with(podinfoE2E, flBlock("test/kuma/test-canary.sh", 1)), mesh: "kuma", want: refused(`meshProvider "kuma"`)},
	{name: "e2e kuma test-canary 2", files: with(podinfoE2E, flBlock("test/kuma/test-canary.sh", 2)), mesh: "kuma", want: refused(`meshProvider "kuma"`)},
	{name: "e2e nginx test-canary 1", files: with(podinfoE2E, flBlock("test/nginx/test-canary.sh", 1)), mesh: "nginx", want: refused(`meshProvider "nginx"`)},
	{name: "e2e nginx test-canary 2", files: with(podinfoE2E, flBlock("test/nginx/test-canary.sh", 2)), mesh: "nginx", want: refused(`meshProvider "nginx"`)},
	{name: "e2e nginx test-lifecycle 1", files: with(podinfoE2E, flBlock("test/nginx/test-lifecycle.sh", 1)), mesh: "nginx", want: refused(`meshProvider "nginx"`)},
	{name: "e2e nginx test-lifecycle 2", files: with(podinfoE2E, flBlock("test/nginx/test-lifecycle.sh", 2)), mesh: "nginx", want: refused(`meshProvider "nginx"`)},
	{name: "e2e kubernetes test-daemonset 1", files: with(podinfoDaemonSet, flBlock("test/kubernetes/test-daemonset.sh", 1)), want: refused("targetRef DaemonSet podinfo-ds")},
	{name: "e2e kubernetes test-daemonset 2", files: with(podinfoDaemonSet, flBlock("test/kubernetes/test-daemonset.sh", 2)), want: refused("targetRef DaemonSet podinfo-ds")},
	{name: "e2e knative test-canary 1", files: []source{flBlock("test/knative/test-canary.sh", 1)}, want: refused("targetRef Knative Service podinfo")},
	{name: "e2e knative test-canary 2", files: []source{flBlock("test/knative/test-canary.sh", 2)}, want: refused("targetRef Knative Service podinfo")},
	{name: "e2e skipper test-canary", files: with(podinfoE2E, flBlock("test/skipper/test-canary.sh", 1)), want: refused(`provider "skipper"`)},
	{name: "e2e traefik test-canary", files: with(podinfoE2E, flBlock("test/traefik/test-canary.sh", 1)), want: refused(`provider "traefik"`)},
}

// TestUpstreamManifests runs every set through the command line, as
// `canarylab run --output json` on a scenario that names the files.
func TestUpstreamManifests(t *testing.T) {
	t.Parallel()
	dirs := moduleDirs(t)
	for _, group := range []struct {
		controller string
		sets       []set
	}{{"argo-rollouts", argoSets}, {"flagger", flaggerSets}} {
		for _, s := range group.sets {
			t.Run(s.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				var manifests []string
				for i, src := range s.files {
					manifests = append(manifests, materialize(t, dirs, src, dir, i)...)
				}
				path := writeScenario(t, dir, group.controller, s, manifests)
				var stdout, stderr bytes.Buffer
				code := cli.Run(context.Background(), cli.Streams{Out: &stdout, Err: &stderr}, []string{"run", "--output", "json", "--quiet", path})
				check(t, s.want, code, stdout.Bytes(), stderr.String())
			})
		}
	}
}

func check(t *testing.T, w want, code int, stdout []byte, stderr string) {
	t.Helper()
	if w.outcome == "" {
		if code != w.exit || !strings.Contains(stderr, w.message) {
			t.Errorf("want %s, got exit %d: %s", w, code, stderr)
		}
		return
	}
	var results []struct {
		Outcome struct {
			Result string `json:"result"`
		} `json:"outcome"`
	}
	if err := json.Unmarshal(stdout, &results); err != nil || len(results) != 1 {
		t.Fatalf("want %s, got exit %d, output %q (%v), stderr: %s", w, code, stdout, err, stderr)
	}
	if got := results[0].Outcome.Result; code != cli.ExitPassed || got != w.outcome {
		t.Errorf("want %s, got exit %d, outcome %q; stderr: %s", w, code, got, stderr)
	}
}

// writeScenario wraps the manifests in a scenario: the stable image is the
// one the manifests run (rollouts-demo or podinfo), the release another tag
// of it, 30 rps for 20 minutes, and the expected outcome when one is.
func writeScenario(t *testing.T, dir, controller string, s set, manifests []string) string {
	t.Helper()
	stable, release := demoStable, "argoproj/rollouts-demo:green"
	if controller == "flagger" {
		stable, release = podinfoStable, "ghcr.io/stefanprodan/podinfo:6.0.1"
	}
	if image := firstImage(t, manifests); image != "" {
		stable = image
		if repo, tag, ok := strings.Cut(image, ":"); ok && tag != "green" && controller == "argo-rollouts" {
			release = repo + ":green"
		} else if ok && controller == "argo-rollouts" {
			release = repo + ":yellow"
		}
	}
	expect := s.want.outcome
	if expect == "" {
		expect = "promoted" // not reached: the run is refused or invalid
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: canarylab.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: upstream\nspec:\n  controller: %s\n", controller)
	if s.mesh != "" {
		fmt.Fprintf(&b, "  meshProvider: %s\n", s.mesh)
	}
	b.WriteString("  manifests:\n")
	for _, m := range manifests {
		fmt.Fprintf(&b, "    - %q\n", m)
	}
	fmt.Fprintf(&b, "  stable: %q\n  release: %q\n  profiles:\n    %q: {color: blue}\n    %q: {color: green}\n", stable, release, stable, release)
	b.WriteString("  load: {rps: 30, duration: 20m}\n")
	if s.events != "" {
		fmt.Fprintf(&b, "  events: %s\n", s.events)
	}
	fmt.Fprintf(&b, "  expect:\n    outcome: %s\n", expect)
	path := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var imageLine = regexp.MustCompile(`(?m)^\s*-?\s*image:\s*["']?([^\s"'#]+)`)

// firstImage is the first container image of the file holding the Rollout
// or the Deployment: the stable image a user starts from.
func firstImage(t *testing.T, manifests []string) string {
	t.Helper()
	for _, m := range manifests {
		data, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if !strings.Contains(text, "kind: Rollout") && !strings.Contains(text, "kind: Deployment") {
			continue
		}
		if match := imageLine.FindStringSubmatch(text); match != nil && !strings.Contains(match[1], "{{") {
			return match[1]
		}
	}
	return ""
}

var (
	markdownYAML = regexp.MustCompile("(?ms)^```ya?ml[^\\n]*\\n(.*?)^```")
	heredoc      = regexp.MustCompile(`(?ms)<<\s*'?EOF'?[^\n]*\n(.*?)^[ \t]*EOF`)
	canaryKind   = regexp.MustCompile(`(?m)^kind: Canary\s*$`)
	apiVersion   = regexp.MustCompile(`(?m)^apiVersion: `)
	metricKind   = regexp.MustCompile(`(?m)^kind: MetricTemplate\s*$`)
)

// materialize gives the manifest paths of one source: the module cache
// file itself, or the extracted block (and the file's MetricTemplates)
// written to dir.
func materialize(t *testing.T, dirs map[string]string, src source, dir string, i int) []string {
	t.Helper()
	path := filepath.Join(dirs[src.module], filepath.FromSlash(src.path))
	if src.block == 0 {
		return []string{path}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := heredoc.FindAllStringSubmatch(string(data), -1)
	if strings.HasSuffix(src.path, ".md") {
		blocks = markdownYAML.FindAllStringSubmatch(string(data), -1)
	}
	var canary string
	var metrics []string
	n := 0
	for _, b := range blocks {
		text := dedent(b[1])
		switch {
		case canaryKind.MatchString(text) && apiVersion.MatchString(text):
			if n++; n == src.block {
				canary = text
			}
		case metricKind.MatchString(text):
			metrics = append(metrics, text)
		}
	}
	var out []string
	switch {
	case src.block == metricsOnly && len(metrics) == 0:
		t.Fatalf("%s holds no MetricTemplate blocks", path)
	case src.block == metricsOnly:
	case canary == "":
		t.Fatalf("%s holds %d Canary blocks, not %d", path, n, src.block)
	default:
		out = append(out, filepath.Join(dir, fmt.Sprintf("%d-canary.yaml", i)))
		if err := os.WriteFile(out[0], []byte(canary), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(metrics) > 0 {
		extra := filepath.Join(dir, fmt.Sprintf("%d-metrictemplates.yaml", i))
		if err := os.WriteFile(extra, []byte(strings.Join(metrics, "\n---\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, extra)
	}
	return out
}

// dedent removes the indentation of a heredoc written inside a shell
// function: that of its first line, from every line.
func dedent(text string) string {
	indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
	if indent == "" {
		return text
	}
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		lines[i] = strings.TrimPrefix(line, indent)
	}
	return strings.Join(lines, "\n")
}

var (
	dirsOnce sync.Once
	dirsOf   map[string]string
	dirsErr  error
)

// moduleDirs finds the module cache directories of the upstream modules at
// the versions go.mod requires.
func moduleDirs(t *testing.T) map[string]string {
	t.Helper()
	dirsOnce.Do(func() { dirsOf, dirsErr = findModuleDirs() })
	if dirsErr != nil {
		t.Fatal(dirsErr)
	}
	return dirsOf
}

func findModuleDirs() (map[string]string, error) {
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		return nil, err
	}
	file, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		return nil, err
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			return nil, fmt.Errorf("go env GOMODCACHE: %w", err)
		}
		cache = strings.TrimSpace(string(out))
	}
	dirs := map[string]string{}
	for _, req := range file.Require {
		if req.Mod.Path != argoModule && req.Mod.Path != flaggerModule {
			continue
		}
		escaped, err := module.EscapePath(req.Mod.Path)
		if err != nil {
			return nil, err
		}
		version, err := module.EscapeVersion(req.Mod.Version)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(cache, filepath.FromSlash(escaped)+"@"+version)
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("%s@%s is not in the module cache (go mod download %s): %w", req.Mod.Path, req.Mod.Version, req.Mod.Path, err)
		}
		dirs[req.Mod.Path] = dir
	}
	if len(dirs) != 2 {
		return nil, fmt.Errorf("go.mod requires %d of %s and %s", len(dirs), argoModule, flaggerModule)
	}
	return dirs, nil
}
