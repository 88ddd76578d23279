// Package flagger models the Flagger controller v1.44.0 (progressive canary,
// blue/green, A/B and mirroring on Istio or Linkerd) on the sim's virtual
// clock. It reads the real flagger.app/v1beta1 Canary and MetricTemplate YAML
// with the target Deployment and reproduces the controller's per-tick state
// machine as implemented and as measured on the real controller
// (docs/measurements.md#flagger-ticks-and-timing). Rules cite the source as
// FL <path>:<line> (FL = github.com/fluxcd/flagger@v1.44.0).
package flagger

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/canarylab/canarylab/controller"

	"gopkg.in/yaml.v3"

	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/scenario/k8sschema"
	"github.com/canarylab/canarylab/sim/metricstore"
)

// Canary is flagger.app/v1beta1 Canary, the fields the model reads.
type Canary struct {
	Metadata controller.ObjectMeta `yaml:"metadata"`
	Spec     CanarySpec            `yaml:"spec"`
}

// CanarySpec is the Canary's spec.
type CanarySpec struct {
	Provider                string     `yaml:"provider"`
	MetricsServer           string     `yaml:"metricsServer"`
	TargetRef               *Reference `yaml:"targetRef"`
	AutoscalerRef           *Reference `yaml:"autoscalerRef"`
	IngressRef              *Reference `yaml:"ingressRef"`
	Service                 *Service   `yaml:"service"`
	Analysis                *Analysis  `yaml:"analysis"`
	ProgressDeadlineSeconds *int       `yaml:"progressDeadlineSeconds"`
	SkipAnalysis            bool       `yaml:"skipAnalysis"`
	Suspend                 bool       `yaml:"suspend"`
	RevertOnDeletion        bool       `yaml:"revertOnDeletion"`
}

// Reference names another object.
type Reference struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Name       string `yaml:"name"`
}

// Service is the Canary's service block.
type Service struct {
	Name       string         `yaml:"name"`
	Port       *int           `yaml:"port"`
	TargetPort any            `yaml:"targetPort"`
	PortName   string         `yaml:"portName"`
	Hosts      []string       `yaml:"hosts"`
	Gateways   []string       `yaml:"gateways"`
	Match      []MatchRequest `yaml:"match"`
}

// Analysis is spec.analysis.
type Analysis struct {
	Interval              string         `yaml:"interval"`
	Threshold             *int           `yaml:"threshold"`
	Iterations            *int           `yaml:"iterations"`
	MaxWeight             int            `yaml:"maxWeight"`
	StepWeight            *int           `yaml:"stepWeight"`
	StepWeights           []int          `yaml:"stepWeights"`
	StepWeightPromotion   int            `yaml:"stepWeightPromotion"`
	Mirror                bool           `yaml:"mirror"`
	MirrorWeight          int            `yaml:"mirrorWeight"`
	PrimaryReadyThreshold *int           `yaml:"primaryReadyThreshold"`
	CanaryReadyThreshold  *int           `yaml:"canaryReadyThreshold"`
	Match                 []MatchRequest `yaml:"match"`
	Metrics               []Metric       `yaml:"metrics"`
	Webhooks              []Webhook      `yaml:"webhooks"`
	SessionAffinity       *yaml.Node     `yaml:"sessionAffinity"`

	line  int            // of the analysis block, for error messages
	lines map[string]int // of its fields, and of webhooks.N and metrics.N
}

// MatchRequest is an Istio HTTPMatchRequest as the Canary carries it.
type MatchRequest struct {
	Headers      map[string]StringMatch `yaml:"headers"`
	SourceLabels map[string]string      `yaml:"sourceLabels"`
	URI          *StringMatch           `yaml:"uri"`
}

// StringMatch is exact, prefix, suffix or regex.
type StringMatch struct {
	Exact  string `yaml:"exact"`
	Prefix string `yaml:"prefix"`
	Suffix string `yaml:"suffix"`
	Regex  string `yaml:"regex"`
}

// Metric is one analysis metric.
type Metric struct {
	Name              string            `yaml:"name"`
	Interval          string            `yaml:"interval"`
	Threshold         *float64          `yaml:"threshold"`
	ThresholdRange    *ThresholdRange   `yaml:"thresholdRange"`
	Query             string            `yaml:"query"`
	TemplateRef       *TemplateRef      `yaml:"templateRef"`
	TemplateVariables map[string]string `yaml:"templateVariables"`
}

// ThresholdRange bounds a metric's value, both ends inclusive.
type ThresholdRange struct {
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
}

// TemplateRef names a MetricTemplate.
type TemplateRef struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
}

// Webhook is one analysis webhook.
type Webhook struct {
	Name     string            `yaml:"name"`
	Type     string            `yaml:"type"`
	URL      string            `yaml:"url"`
	Timeout  string            `yaml:"timeout"`
	Retries  int               `yaml:"retries"`
	Metadata map[string]string `yaml:"metadata"`
}

// MetricTemplate is flagger.app/v1beta1 MetricTemplate.
type MetricTemplate struct {
	Metadata controller.ObjectMeta `yaml:"metadata"`
	Spec     struct {
		Provider struct {
			Type      string `yaml:"type"`
			Address   string `yaml:"address"`
			SecretRef *struct {
				Name string `yaml:"name"`
			} `yaml:"secretRef"`
		} `yaml:"provider"`
		Query string `yaml:"query"`
	} `yaml:"spec"`
}

// Deployment is apps/v1 Deployment, the fields the model reads.
type Deployment struct {
	Metadata controller.ObjectMeta `yaml:"metadata"`
	Spec     struct {
		Replicas                *int `yaml:"replicas"`
		ProgressDeadlineSeconds *int `yaml:"progressDeadlineSeconds"`
		MinReadySeconds         int  `yaml:"minReadySeconds"`
		Selector                struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate *struct {
				MaxSurge       any `yaml:"maxSurge"`
				MaxUnavailable any `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template controller.PodTemplate `yaml:"template"`
	} `yaml:"spec"`
}

// Manifests are the decoded objects of one Flagger scenario.
type Manifests struct {
	Canary      Canary
	CanaryWhere string
	Namespace   string
	Target      *Deployment
	TargetWhere string
	Templates   map[string]*MetricTemplate // by namespace/name
	Services    map[string]bool
	// Declared are the webhooks the scenario answers (spec.stubs): name
	// to whether the answer is pass.
	Declared map[string]bool
	// MeshProvider is the scenario's spec.meshProvider: the -mesh-provider
	// Flagger was installed with, the provider of a Canary that names none.
	MeshProvider string
}

// DecodeScenario is Decode with the scenario's declared answers: each
// stub must name a loadtester webhook of the Canary (canarylab answers
// only the loadtester it emulates).
func DecodeScenario(sc *scenario.Scenario) (*Manifests, error) {
	m, err := Decode(sc.Documents)
	if err != nil {
		return m, err
	}
	var ps Problems
	m.MeshProvider = sc.Spec.MeshProvider
	switch {
	case sc.Spec.MeshProvider != "" && !contains(providers, sc.Spec.MeshProvider):
		ps.Add(sc.Path, sc.Line("spec.meshProvider"), "meshProvider %q is not a provider Flagger knows: its -mesh-provider is one of %s (FL cmd/flagger/main.go:115)",
			sc.Spec.MeshProvider, strings.Join(providers, ", "))
	case sc.Spec.MeshProvider == "" && m.Canary.Spec.Provider == "":
		// The Canary gets the mesh Flagger was installed with (FL
		// pkg/controller/scheduler.go:176-180), which only the scenario can
		// say; canarylab does not assume one.
		ps.AddAt(m.CanaryWhere, "Canary %s names no spec.provider, so it gets the mesh Flagger was installed with: state it as the scenario's spec.meshProvider "+
			"(Flagger's -mesh-provider: istio, linkerd, or another provider Flagger has)", m.Canary.Metadata.Name)
	}
	if sc.Spec.Stubs != nil {
		m.declare(&ps, sc)
	}
	return m, ps.Err()
}

// declare records the scenario's declared webhook answers.
func (m *Manifests) declare(ps *Problems, sc *scenario.Scenario) {
	hooks := map[string]Webhook{}
	var names []string
	if m.Canary.Spec.Analysis != nil {
		for _, hook := range m.Canary.Spec.Analysis.Webhooks {
			hooks[hook.Name] = hook
			names = append(names, hook.Name)
		}
	}
	m.Declared = map[string]bool{}
	for i, stub := range sc.Spec.Stubs.Webhooks {
		hook, ok := hooks[stub.Name]
		line := sc.Line(fmt.Sprintf("spec.stubs.webhooks[%d].name", i))
		switch {
		case !ok:
			ps.Add(sc.Path, line, "spec.stubs answers webhook %s, which the Canary at %s does not have (its webhooks: %s)", stub.Name, m.CanaryWhere, strings.Join(names, ", "))
		case !IsLoadtesterURL(hook.URL):
			ps.Add(sc.Path, line, "spec.stubs answers webhook %s, whose URL %s is no flagger-loadtester: canarylab answers only the loadtester it emulates", stub.Name, hook.URL)
		default:
			m.Declared[stub.Name] = stub.Answer == scenario.AnswerPass
		}
	}
}

// TaskKey identifies a loadtester task by what Flagger posts of it (the
// payload carries the webhook's metadata, not its name).
func TaskKey(metadata map[string]string) string {
	kind, ok := metadata["type"]
	if !ok {
		kind = "cmd"
	}
	return kind + "\n" + metadata["cmd"]
}

// DeclaredTasks are the declared answers by TaskKey, for the emulated
// loadtester.
func (m *Manifests) DeclaredTasks() map[string]bool {
	tasks := map[string]bool{}
	if m.Canary.Spec.Analysis == nil {
		return tasks
	}
	for _, hook := range m.Canary.Spec.Analysis.Webhooks {
		if pass, ok := m.Declared[hook.Name]; ok {
			tasks[TaskKey(hook.Metadata)] = pass
		}
	}
	return tasks
}

// Unanswerable says which webhooks ask the loadtester for a task
// canarylab cannot run and the scenario does not answer, or nil: no
// backend can run those (the local backend's loadtester is canarylab's
// emulation too).
func (m *Manifests) Unanswerable() error {
	if m.Canary.Spec.Analysis == nil {
		return nil
	}
	reasons := m.unrunnableHooks(m.Canary.Spec.Analysis.Webhooks)
	if len(reasons) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s; declare its answer under spec.stubs.webhooks (pass or fail) to run it", m.CanaryWhere, strings.Join(reasons, "; "))
}

// Problems collects file:line problems of the manifests.
type Problems = scenario.Problems

// Decode reads a Flagger scenario's documents and checks what the API
// server (the Canary CRD's schema) and the controller would reject.
func Decode(documents []scenario.Document) (*Manifests, error) {
	if err := k8sschema.Check(documents); err != nil {
		return nil, err
	}
	var ps Problems
	m := &Manifests{Templates: map[string]*MetricTemplate{}, Services: map[string]bool{}}
	deployments := map[string]*Deployment{}
	deploymentWhere := map[string]string{}
	canaries := 0
	for _, document := range documents {
		switch document.Kind {
		case "Canary":
			canaries++
			if err := document.Node.Decode(&m.Canary); err != nil {
				ps.AddAt(document.Where(), "decoding Canary: %v", err)
				continue
			}
			m.CanaryWhere = document.Where()
			m.Namespace = document.Namespace
			// The raw analysis block, for the CRD's oneOf (set vs unset).
			if analysis := scenario.Lookup(document.Node, "spec", "analysis"); analysis != nil && m.Canary.Spec.Analysis != nil {
				a := m.Canary.Spec.Analysis
				a.line, a.lines = analysis.Line, map[string]int{}
				for i := 0; i+1 < len(analysis.Content); i += 2 {
					a.lines[analysis.Content[i].Value] = analysis.Content[i].Line
				}
				for i, item := range contentOf(scenario.Lookup(analysis, "webhooks")) {
					a.lines["webhooks."+strconv.Itoa(i)] = item.Line
				}
				for i, item := range contentOf(scenario.Lookup(analysis, "metrics")) {
					a.lines["metrics."+strconv.Itoa(i)] = item.Line
				}
			}
		case "MetricTemplate":
			template := &MetricTemplate{}
			if err := document.Node.Decode(template); err != nil {
				ps.AddAt(document.Where(), "decoding MetricTemplate: %v", err)
				continue
			}
			namespace := document.Namespace
			if namespace == "" {
				namespace = "default"
			}
			m.Templates[namespace+"/"+document.Name] = template
			validateTemplate(&ps, document.Where(), template)
		case "Deployment":
			deployment := &Deployment{}
			if err := document.Node.Decode(deployment); err != nil {
				ps.AddAt(document.Where(), "decoding Deployment: %v", err)
				continue
			}
			deployments[document.Name] = deployment
			deploymentWhere[document.Name] = document.Where()
		case "Service":
			m.Services[document.Name] = true
		}
	}
	if m.Namespace == "" {
		m.Namespace = "default"
	}
	if canaries == 1 && m.CanaryWhere != "" {
		validateCanary(&ps, m, deployments, deploymentWhere)
	}
	return m, ps.Err()
}

func contentOf(node *yaml.Node) []*yaml.Node {
	if node == nil {
		return nil
	}
	return node.Content
}

// providers are the -mesh-provider values Flagger names (FL
// cmd/flagger/main.go:115), the same as the Canary CRD's enum of
// spec.provider (FL artifacts/flagger/crd.yaml:88-107).
var providers = []string{"apisix", "appmesh", "appmesh:v1beta2", "contour", "gatewayapi:v1", "gatewayapi:v1beta1",
	"gloo", "istio", "knative", "kubernetes", "kuma", "linkerd", "nginx", "osm", "skipper",
	"smi:v1alpha1", "smi:v1alpha2", "smi:v1alpha3", "traefik"}

// validateCanary checks what the Canary CRD cannot: its schema (required
// targetRef, analysis and service.port, the analysis oneOf, the interval
// and timeout patterns, the provider and webhook type enums) is checked
// before, by the API server's rules (k8sschema.Check in Decode;
// TestTheCRDRejectsBeforeTheModel). What is left are the controller's own
// rules and the bounds of the model.
func validateCanary(ps *Problems, m *Manifests, deployments map[string]*Deployment, deploymentWhere map[string]string) {
	where := m.CanaryWhere
	canary := &m.Canary
	name := canary.Metadata.Name
	spec := canary.Spec
	if spec.TargetRef == nil || spec.Analysis == nil {
		return // the CRD requires both
	}
	if spec.TargetRef.Kind == "Deployment" {
		// DaemonSet and Service targets (the CRD's enum admits no other kind)
		// are valid and refused by name in Unsupported.
		target, ok := deployments[spec.TargetRef.Name]
		if !ok {
			ps.AddAt(where, "Canary %s: target Deployment %q is not among the scenario's manifests: add it (Flagger waits for it forever)", name, spec.TargetRef.Name)
		} else {
			m.Target = target
			m.TargetWhere = deploymentWhere[spec.TargetRef.Name]
			if len(target.Spec.Template.Spec.Containers) == 0 {
				ps.AddAt(m.TargetWhere, "Deployment %s: spec.template.spec.containers is empty", spec.TargetRef.Name)
			}
			if target.Spec.Replicas != nil && (*target.Spec.Replicas < 0 || *target.Spec.Replicas > scenario.MaxReplicas) {
				ps.AddAt(m.TargetWhere, "Deployment %s: spec.replicas %d is outside 0..%d (canarylab models every pod)", spec.TargetRef.Name, *target.Spec.Replicas, scenario.MaxReplicas)
			}
			if len(target.Spec.Selector.MatchLabels) == 0 {
				ps.AddAt(m.TargetWhere, "Deployment %s: spec.selector.matchLabels is empty: Flagger selects pods by the app, name or app.kubernetes.io/name label", spec.TargetRef.Name)
			}
		}
	}
	if spec.Service == nil && !IsKnativeTarget(spec.TargetRef) {
		// The CRD requires only targetRef and analysis (FL
		// artifacts/flagger/crd.yaml:81-83), but for a workload target Flagger
		// creates the apex, primary and canary Services from spec.service
		// (FL pkg/router/kubernetes_default.go:90-115): without it their port
		// is 0, which the API server refuses. A Knative Service brings its own.
		ps.AddAt(where, "Canary %s: spec.service is missing: Flagger creates the Services and routing of a %s target from it (spec.service.port at least)", name, spec.TargetRef.Kind)
	}
	analysis := spec.Analysis
	file, _ := scenario.SplitPosition(where)
	at := where
	if analysis.line > 0 {
		at = scenario.Position(file, analysis.line)
	}
	// field is where a field of the analysis is, else the block.
	field := func(key string) string {
		if line := analysis.lines[key]; line > 0 {
			return scenario.Position(file, line)
		}
		return at
	}
	// The CRD's pattern ^[0-9]+(m|s) is unanchored at the end (FL
	// artifacts/flagger/crd.yaml:984): "10sx" passes it, and Flagger's
	// time.ParseDuration then fails (FL pkg/apis/flagger/v1beta1/canary.go:637-653).
	if _, err := time.ParseDuration(analysis.Interval); err != nil && analysis.Interval != "" {
		ps.AddAt(field("interval"), "Canary %s: analysis.interval %q is not a duration Flagger can parse: use seconds or minutes such as 30s or 1m", name, analysis.Interval)
	}
	if len(analysis.StepWeights) > scenario.MaxSteps {
		ps.AddAt(field("stepWeights"), "Canary %s: analysis.stepWeights holds %d weights: the limit is %d", name, len(analysis.StepWeights), scenario.MaxSteps)
	}
	for i, weight := range analysis.StepWeights {
		if weight < 0 || weight > 100 || (i > 0 && weight <= analysis.StepWeights[i-1]) {
			ps.AddAt(field("stepWeights"), "Canary %s: analysis.stepWeights %v must rise within 0..100", name, analysis.StepWeights)
			break
		}
	}
	for i, metric := range analysis.Metrics {
		at := field("metrics." + strconv.Itoa(i))
		if metric.TemplateRef != nil {
			namespace := metric.TemplateRef.Namespace
			if namespace == "" {
				namespace = m.Namespace
			}
			if _, ok := m.Templates[namespace+"/"+metric.TemplateRef.Name]; !ok {
				ps.AddAt(at, "Canary %s: metric %s names MetricTemplate %s/%s, which is not among the scenario's manifests: add it", name, metric.Name, namespace, metric.TemplateRef.Name)
			}
		}
	}
	for i, hook := range analysis.Webhooks {
		// The CRD says only that url is a string.
		if _, err := url.ParseRequestURI(hook.URL); err != nil {
			ps.AddAt(field("webhooks."+strconv.Itoa(i)), "Canary %s: webhook %s url %q is not a URL", name, hook.Name, hook.URL)
		}
	}
}

// validateTemplate bounds a MetricTemplate's query (its required provider
// type and query are the CRD's, checked before).
func validateTemplate(ps *Problems, where string, template *MetricTemplate) {
	if len(template.Spec.Query) > metricstore.MaxQueryBytes {
		ps.AddAt(where, "MetricTemplate %s: spec.query is %d bytes long: the limit is %d", template.Metadata.Name, len(template.Spec.Query), metricstore.MaxQueryBytes)
	}
}

func contains(list []string, value string) bool {
	for _, item := range list {
		if item == value {
			return true
		}
	}
	return false
}

// ErrUnsupported marks valid manifests that use what the sim does not
// model; the local backend, running the real controller, can replay them.
var ErrUnsupported = fmt.Errorf("not modelled by the sim backend")

// Unsupported says what of a valid Canary the sim does not model.
func (m *Manifests) Unsupported() error {
	var reasons []string
	spec := m.Canary.Spec
	switch {
	case spec.Provider == "" && m.MeshProvider != "" && MeshFor(&m.Canary, m.MeshProvider) != MeshIstio && MeshFor(&m.Canary, m.MeshProvider) != MeshLinkerd:
		reasons = append(reasons, fmt.Sprintf("meshProvider %q, the provider of a Canary that names none (the sim models the istio and linkerd routers)", m.MeshProvider))
	case spec.Provider != "" && MeshFor(&m.Canary, "") != MeshIstio && MeshFor(&m.Canary, "") != MeshLinkerd:
		reasons = append(reasons, fmt.Sprintf("provider %q (the sim models the istio and linkerd routers)", spec.Provider))
	}
	switch target := spec.TargetRef; {
	case target == nil:
	case IsKnativeTarget(target):
		reasons = append(reasons, fmt.Sprintf("targetRef Knative Service %s (serving.knative.dev/v1: Flagger's Knative controller routes by Knative revisions, FL pkg/canary/knative_controller.go)", target.Name))
	case target.Kind == "Service":
		reasons = append(reasons, fmt.Sprintf("targetRef Service %s (Flagger's ClusterIP Service target, FL pkg/canary/service_controller.go)", target.Name))
	case target.Kind == "DaemonSet":
		reasons = append(reasons, fmt.Sprintf("targetRef DaemonSet %s (the sim models Deployment targets; Flagger's DaemonSet controller is FL pkg/canary/daemonset_controller.go)", target.Name))
	}
	if spec.AutoscalerRef != nil {
		reasons = append(reasons, "autoscalerRef (HPA-driven replica counts)")
	}
	if spec.Analysis != nil && spec.Analysis.SessionAffinity != nil {
		reasons = append(reasons, "analysis.sessionAffinity")
	}
	for key, template := range m.Templates {
		if template.Spec.Provider.Type != "prometheus" {
			reasons = append(reasons, fmt.Sprintf("MetricTemplate %s provider %q (the sim answers Prometheus queries)", key, template.Spec.Provider.Type))
		}
	}
	if spec.Analysis != nil {
		for _, request := range spec.Analysis.Match {
			if request.URI != nil || len(request.SourceLabels) > 0 {
				reasons = append(reasons, "analysis.match on uri or sourceLabels (the sim matches headers)")
				break
			}
			for name, match := range request.Headers {
				if match.Suffix != "" {
					reasons = append(reasons, fmt.Sprintf("analysis.match header %s suffix", name))
				}
			}
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w: %s", m.CanaryWhere, ErrUnsupported, strings.Join(reasons, "; "))
}

// Warnings are valid settings that will not do what a user may expect:
// webhooks nothing answers (the real controller gets no answer either).
func (m *Manifests) Warnings() []string {
	var warnings []string
	if m.Canary.Spec.Analysis == nil {
		return nil
	}
	for _, hook := range m.Canary.Spec.Analysis.Webhooks {
		if !IsLoadtesterURL(hook.URL) {
			warnings = append(warnings, fmt.Sprintf("webhook %s (%s) is not a flagger-loadtester URL: canarylab answers only loadtester webhooks, so it fails as unreachable", hook.Name, hook.URL))
		}
	}
	return warnings
}

// IsLoadtesterURL reports whether a webhook URL points at a flagger-loadtester
// by canarylab's convention: the first label of the URL's host contains
// "loadtester" (http://flagger-loadtester.test/, http://loadtester:8080/).
// Case is ignored, as in DNS.
func IsLoadtesterURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "" || net.ParseIP(host) != nil {
		return false
	}
	firstLabel, _, _ := strings.Cut(host, ".")
	return strings.Contains(strings.ToLower(firstLabel), "loadtester")
}

// UnrunnableTasks are the loadtester task types the real tester runs and
// canarylab cannot: bash, helm, helmv3, kubectl and concord block the
// request (FL pkg/loadtester/server.go:308-420); ngrinder is queued and
// drives an external nGrinder server.
var UnrunnableTasks = map[string]bool{
	"bash": true, "helm": true, "helmv3": true, "kubectl": true, "concord": true, "ngrinder": true,
}

// unrunnableHooks names the webhooks that ask the loadtester for a task
// canarylab cannot run (an acceptance test in bash, a helm test) and whose
// answer the scenario does not declare.
func (m *Manifests) unrunnableHooks(hooks []Webhook) []string {
	var reasons []string
	for _, hook := range hooks {
		if _, declared := m.Declared[hook.Name]; declared {
			continue
		}
		if kind := hook.Metadata["type"]; IsLoadtesterURL(hook.URL) && UnrunnableTasks[kind] {
			reasons = append(reasons, fmt.Sprintf("webhook %s runs a %s task on the loadtester (%q): canarylab runs only cmd tasks with hey or wrk, and does not guess what the %s task would answer",
				hook.Name, kind, hook.Metadata["cmd"], kind))
		}
	}
	return reasons
}

// Phases of a Canary (FL pkg/apis/flagger/v1beta1/status.go).
const (
	PhaseInitializing     = "Initializing"
	PhaseInitialized      = "Initialized"
	PhaseWaiting          = "Waiting"
	PhaseProgressing      = "Progressing"
	PhaseWaitingPromotion = "WaitingPromotion"
	PhasePromoting        = "Promoting"
	PhaseFinalising       = "Finalising"
	PhaseSucceeded        = "Succeeded"
	PhaseFailed           = "Failed"
)

// Strategies (FL pkg/apis/flagger/v1beta1/canary.go:693-711).
const (
	StrategyCanary    = "canary"
	StrategyBlueGreen = "blue-green"
	StrategyAB        = "ab-testing"
)

// Meshes whose routing and telemetry the model writes.
const (
	MeshIstio   = "istio"
	MeshLinkerd = "linkerd"
)

// IsKnativeTarget is LocalObjectReference.IsKnativeService (FL
// pkg/apis/flagger/v1beta1/canary.go:517-523): a Service of
// serving.knative.dev/v1.
func IsKnativeTarget(ref *Reference) bool {
	return ref != nil && ref.Kind == "Service" && ref.APIVersion == "serving.knative.dev/v1"
}

// ServiceNames are the apex, primary and canary Service names (FL
// pkg/apis/flagger/v1beta1/canary.go:608-616 GetServiceNames).
func ServiceNames(canary *Canary) (apex, primary, canaryName string) {
	apex = canary.Spec.TargetRef.Name
	if canary.Spec.Service != nil && canary.Spec.Service.Name != "" {
		apex = canary.Spec.Service.Name
	}
	return apex, apex + "-primary", apex + "-canary"
}

// MeshFor is the mesh whose routing objects and metrics a Canary gets: its
// spec.provider, else the mesh Flagger was installed with (-mesh-provider,
// FL pkg/controller/scheduler.go:176-180), which the scenario states
// (scenario.Spec.MeshProvider); "" when neither says.
func MeshFor(canary *Canary, installed string) string {
	provider := canary.Spec.Provider
	if provider == "" {
		provider = installed
	}
	switch provider {
	case "linkerd", "smi:v1alpha1:linkerd":
		return MeshLinkerd
	case "istio":
		return MeshIstio
	}
	return provider
}

// AnalysisInterval is GetAnalysisInterval (FL canary.go:637-653): under 10s
// is 10s.
func AnalysisInterval(analysis *Analysis) time.Duration {
	interval, err := time.ParseDuration(analysis.Interval)
	if err != nil {
		return 60 * time.Second
	}
	return max(interval, 10*time.Second)
}

// Reached is when, during the run, a Canary reached the phases that end
// it (nil: not since the release).
type Reached struct {
	Succeeded, Failed, Waiting *time.Duration
}

// Outcome is a Canary's outcome in its phase (docs/architecture.md#outcomes)
// and since when: Succeeded is promoted, Failed rolled back, Waiting or
// WaitingPromotion a wait for a person (a closed gate), anything else
// degraded (nil: at the end of the run).
func Outcome(phase string, reached Reached) (string, *time.Duration) {
	switch {
	case reached.Succeeded != nil && phase == PhaseSucceeded:
		return scenario.OutcomePromoted, reached.Succeeded
	case reached.Failed != nil && phase == PhaseFailed:
		return scenario.OutcomeRolledBack, reached.Failed
	case reached.Waiting != nil && (phase == PhaseWaiting || phase == PhaseWaitingPromotion):
		return scenario.OutcomePaused, reached.Waiting
	}
	return scenario.OutcomeDegraded, nil
}
