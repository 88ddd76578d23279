// Package argorollouts models the Argo Rollouts controller v1.10.2 (canary
// strategy) and its AnalysisRun controller on the sim's virtual clock. It
// reads the real Rollout, AnalysisTemplate and ClusterAnalysisTemplate YAML
// and reproduces the controller's rules as implemented; each rule cites the
// source (AR = github.com/argoproj/argo-rollouts@v1.10.2).
package argorollouts

import (
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canarylab/canarylab/controller"

	"gopkg.in/yaml.v3"

	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/scenario/k8sschema"
)

// IntOrString is a Kubernetes intstr: 3, "3", "25%" or "{{args.count}}".
type IntOrString struct {
	Text string
	Set  bool
}

// UnmarshalYAML keeps the scalar's text.
func (v *IntOrString) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a number or a string", node.Line)
	}
	v.Text, v.Set = node.Value, true
	return nil
}

// Int resolves the value as an integer.
func (v IntOrString) Int() (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v.Text))
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", v.Text)
	}
	return n, nil
}

// Scaled resolves an integer or a percentage of total, rounding percentages
// up or down (k8s.io/apimachinery intstr.GetScaledValueFromIntOrPercent).
func (v IntOrString) Scaled(total int, roundUp bool) (int, error) {
	text := strings.TrimSpace(v.Text)
	if !strings.HasSuffix(text, "%") {
		return v.Int()
	}
	percent, err := strconv.Atoi(strings.TrimSuffix(text, "%"))
	if err != nil {
		return 0, fmt.Errorf("%q is not a percentage", v.Text)
	}
	value := float64(percent) * float64(total) / 100
	if roundUp {
		return int(math.Ceil(value)), nil
	}
	return int(math.Floor(value)), nil
}

// Rollout is argoproj.io/v1alpha1 Rollout, the fields the model uses.
type Rollout struct {
	Metadata controller.ObjectMeta `yaml:"metadata"`
	Spec     RolloutSpec           `yaml:"spec"`
}

// RolloutSpec is the Rollout's spec.
type RolloutSpec struct {
	Replicas                *int                   `yaml:"replicas"`
	Paused                  bool                   `yaml:"paused"`
	ProgressDeadlineSeconds *int                   `yaml:"progressDeadlineSeconds"`
	ProgressDeadlineAbort   bool                   `yaml:"progressDeadlineAbort"`
	MinReadySeconds         int                    `yaml:"minReadySeconds"`
	Strategy                Strategy               `yaml:"strategy"`
	WorkloadRef             *WorkloadRef           `yaml:"workloadRef"`
	Template                controller.PodTemplate `yaml:"template"`
}

// WorkloadRef names the Deployment whose pod template a Rollout takes
// (spec.workloadRef) instead of its own.
type WorkloadRef struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Name       string `yaml:"name"`
	ScaleDown  string `yaml:"scaleDown"`
}

// Strategy is canary or blueGreen.
type Strategy struct {
	Canary    *Canary    `yaml:"canary"`
	BlueGreen *yaml.Node `yaml:"blueGreen"`
}

// Canary is the canary strategy.
type Canary struct {
	CanaryService              string                     `yaml:"canaryService"`
	StableService              string                     `yaml:"stableService"`
	Steps                      []Step                     `yaml:"steps"`
	Analysis                   *RolloutAnalysisBackground `yaml:"analysis"`
	TrafficRouting             *TrafficRouting            `yaml:"trafficRouting"`
	MaxSurge                   *IntOrString               `yaml:"maxSurge"`
	MaxUnavailable             *IntOrString               `yaml:"maxUnavailable"`
	ScaleDownDelaySeconds      *int                       `yaml:"scaleDownDelaySeconds"`
	AbortScaleDownDelaySeconds *int                       `yaml:"abortScaleDownDelaySeconds"`
	DynamicStableScale         bool                       `yaml:"dynamicStableScale"`
	PingPong                   *PingPong                  `yaml:"pingPong"`
}

// PingPong names the two Services that take turns as stable and canary
// (ALB and Istio), instead of canaryService and stableService.
type PingPong struct {
	PingService string `yaml:"pingService"`
	PongService string `yaml:"pongService"`
}

// Step is one canary step.
type Step struct {
	SetWeight      *int             `yaml:"setWeight"`
	Pause          *Pause           `yaml:"pause"`
	Analysis       *RolloutAnalysis `yaml:"analysis"`
	SetCanaryScale *SetCanaryScale  `yaml:"setCanaryScale"`
	Experiment     *yaml.Node       `yaml:"experiment"`
	SetHeaderRoute *RouteStep       `yaml:"setHeaderRoute"`
	SetMirrorRoute *RouteStep       `yaml:"setMirrorRoute"`
	Plugin         *yaml.Node       `yaml:"plugin"`
	line           int
}

// String is the step as the controller names it in events
// (AR utils/rollout/rolloututil.go CanaryStepString).
func (s Step) String() string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("setWeight: %d", *s.SetWeight)
	case s.Pause != nil:
		if s.Pause.Duration != nil {
			return "pause: " + s.Pause.Duration.Text
		}
		return "pause"
	case s.Analysis != nil:
		return "analysis"
	case s.SetCanaryScale != nil:
		return "setCanaryScale"
	case s.SetHeaderRoute != nil:
		return "setHeaderRoute"
	case s.SetMirrorRoute != nil:
		return "setMirrorRoute"
	}
	return "unknown"
}

// RouteStep is a setHeaderRoute or setMirrorRoute step: the managed
// route it sets (its matches are not modelled).
type RouteStep struct {
	Name string `yaml:"name"`
}

// Pause is a timed or indefinite pause.
type Pause struct {
	Duration *IntOrString `yaml:"duration"`
}

// DurationOf is the pause length: a bare integer is seconds, otherwise a Go
// duration (AR pkg/apis/rollouts/v1alpha1/types.go RolloutPause.DurationSeconds).
func (p Pause) DurationOf() (time.Duration, bool, error) {
	if p.Duration == nil {
		return 0, false, nil
	}
	if seconds, err := strconv.Atoi(p.Duration.Text); err == nil {
		return time.Duration(seconds) * time.Second, true, nil
	}
	d, err := time.ParseDuration(p.Duration.Text)
	if err != nil {
		return 0, true, fmt.Errorf("pause duration %q is neither seconds nor a Go duration", p.Duration.Text)
	}
	return d, true, nil
}

// SetCanaryScale scales the canary independently of its weight.
type SetCanaryScale struct {
	Weight             *int `yaml:"weight"`
	Replicas           *int `yaml:"replicas"`
	MatchTrafficWeight bool `yaml:"matchTrafficWeight"`
}

// RolloutAnalysis references templates with arguments.
type RolloutAnalysis struct {
	Templates []TemplateRef `yaml:"templates"`
	Args      []AnalysisArg `yaml:"args"`
	DryRun    []struct {
		MetricName string `yaml:"metricName"`
	} `yaml:"dryRun"`
}

// RolloutAnalysisBackground is background analysis with a starting step.
type RolloutAnalysisBackground struct {
	RolloutAnalysis `yaml:",inline"`
	StartingStep    *int `yaml:"startingStep"`
}

// TemplateRef names an AnalysisTemplate or ClusterAnalysisTemplate.
type TemplateRef struct {
	TemplateName string `yaml:"templateName"`
	ClusterScope bool   `yaml:"clusterScope"`
}

// AnalysisArg is an argument passed to templates.
type AnalysisArg struct {
	Name      string  `yaml:"name"`
	Value     *string `yaml:"value"`
	ValueFrom *struct {
		PodTemplateHashValue *string `yaml:"podTemplateHashValue"`
		FieldRef             *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
	} `yaml:"valueFrom"`
}

// TrafficRouting is the canary's router.
type TrafficRouting struct {
	Istio            *IstioRouting `yaml:"istio"`
	MaxTrafficWeight *int          `yaml:"maxTrafficWeight"`
	// Any other router is reported as unsupported by the sim.
	Other map[string]yaml.Node `yaml:",inline"`
}

// IstioRouting names the VirtualService(s) the controller writes weights to.
type IstioRouting struct {
	VirtualService  *VirtualServiceRef  `yaml:"virtualService"`
	VirtualServices []VirtualServiceRef `yaml:"virtualServices"`
	DestinationRule *struct {
		Name             string `yaml:"name"`
		CanarySubsetName string `yaml:"canarySubsetName"`
		StableSubsetName string `yaml:"stableSubsetName"`
	} `yaml:"destinationRule"`
}

// VirtualServiceRef names a VirtualService and its routes.
type VirtualServiceRef struct {
	Name   string   `yaml:"name"`
	Routes []string `yaml:"routes"`
}

// AnalysisTemplate is argoproj.io/v1alpha1 (Cluster)AnalysisTemplate.
type AnalysisTemplate struct {
	Metadata controller.ObjectMeta `yaml:"metadata"`
	Spec     struct {
		Metrics []Metric      `yaml:"metrics"`
		Args    []TemplateArg `yaml:"args"`
		DryRun  []struct {
			MetricName string `yaml:"metricName"`
		} `yaml:"dryRun"`
	} `yaml:"spec"`
	cluster bool
	where   string
}

// TemplateArg is an argument a template declares: a default value, or a
// value the AnalysisRun controller reads from a Secret when the run
// measures (AR pkg/apis/rollouts/v1alpha1/analysis_types.go:421-449).
type TemplateArg struct {
	Name      string  `yaml:"name"`
	Value     *string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *SecretKeyRef `yaml:"secretKeyRef"`
		FieldRef     *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
	} `yaml:"valueFrom"`
}

// SecretKeyRef names a key of a Secret in the AnalysisRun's namespace.
type SecretKeyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

// Metric is one metric of an analysis.
type Metric struct {
	Name                    string       `yaml:"name"`
	Interval                string       `yaml:"interval"`
	InitialDelay            string       `yaml:"initialDelay"`
	Count                   *IntOrString `yaml:"count"`
	SuccessCondition        string       `yaml:"successCondition"`
	FailureCondition        string       `yaml:"failureCondition"`
	FailureLimit            *IntOrString `yaml:"failureLimit"`
	InconclusiveLimit       *IntOrString `yaml:"inconclusiveLimit"`
	ConsecutiveErrorLimit   *IntOrString `yaml:"consecutiveErrorLimit"`
	ConsecutiveSuccessLimit *IntOrString `yaml:"consecutiveSuccessLimit"`
	Provider                Provider     `yaml:"provider"`
}

// Provider is the metric source; the sim models Prometheus.
type Provider struct {
	Prometheus *struct {
		Address string `yaml:"address"`
		Query   string `yaml:"query"`
		Timeout *int   `yaml:"timeout"`
	} `yaml:"prometheus"`
	Other map[string]yaml.Node `yaml:",inline"`
}

// VirtualService is the part of networking.istio.io VirtualService the model
// reads: the HTTP routes' destinations and their initial weights, and
// whether it has TLS or TCP routes.
type VirtualService struct {
	Metadata controller.ObjectMeta `yaml:"metadata"`
	Spec     struct {
		HTTP []struct {
			Name  string `yaml:"name"`
			Route []struct {
				Destination struct {
					Host   string `yaml:"host"`
					Subset string `yaml:"subset"`
				} `yaml:"destination"`
				Weight int `yaml:"weight"`
			} `yaml:"route"`
		} `yaml:"http"`
		// TLS and TCP are the routes the controller weights besides HTTP
		// ones (AR rollout/trafficrouting/istio/istio.go:296-330); the sim
		// routes only HTTP. Nil when the VirtualService has none.
		TLS []any `yaml:"tls"`
		TCP []any `yaml:"tcp"`
	} `yaml:"spec"`
}

// Manifests are a scenario's objects, decoded.
type Manifests struct {
	Rollout         Rollout
	RolloutWhere    string
	Templates       map[string]*AnalysisTemplate // by name
	Cluster         map[string]*AnalysisTemplate // ClusterAnalysisTemplates by name
	VirtualServices map[string]*VirtualService
	Services        map[string]bool
	// Secrets are the manifests' Secrets by name: their data (base64
	// decoded) with stringData written over it, as the API server stores them.
	Secrets   map[string]*Secret
	Namespace string
	// Experiments are the manifests' Experiments (file:line by name), read
	// only to refuse a set whose workload is a standalone Experiment.
	Experiments map[string]string
	// Declared are the metrics the scenario answers (spec.stubs), by name.
	Declared map[string]scenario.MetricStub
}

// DecodeScenario is Decode with the scenario's declared answers: each
// stub must name a metric of one of the templates.
func DecodeScenario(sc *scenario.Scenario) (*Manifests, error) {
	m, err := Decode(sc.Documents)
	if err != nil || sc.Spec.Stubs == nil || len(sc.Spec.Stubs.Metrics) == 0 {
		return m, err
	}
	metrics := map[string]bool{}
	for _, templates := range []map[string]*AnalysisTemplate{m.Templates, m.Cluster} {
		for _, template := range templates {
			for _, metric := range template.Spec.Metrics {
				metrics[metric.Name] = true
			}
		}
	}
	var ps Problems
	m.Declared = map[string]scenario.MetricStub{}
	for i, stub := range sc.Spec.Stubs.Metrics {
		if !metrics[stub.Name] {
			ps.Add(sc.Path, sc.Line(fmt.Sprintf("spec.stubs.metrics[%d].name", i)), "spec.stubs answers metric %s, which no analysis template of the scenario has (its metrics: %s)",
				stub.Name, strings.Join(slices.Sorted(maps.Keys(metrics)), ", "))
			continue
		}
		m.Declared[stub.Name] = stub
	}
	return m, ps.Err()
}

// Problems collects file:line problems of the manifests.
type Problems = scenario.Problems

// Decode reads the scenario's documents into Manifests and checks what the
// API server and the controller's own validation would reject, plus what the
// sim does not model (said plainly rather than silently ignored).
func Decode(documents []scenario.Document) (*Manifests, error) {
	if err := k8sschema.Check(documents); err != nil {
		return nil, err
	}
	var ps Problems
	m := &Manifests{Templates: map[string]*AnalysisTemplate{}, Cluster: map[string]*AnalysisTemplate{},
		VirtualServices: map[string]*VirtualService{}, Services: map[string]bool{}, Secrets: map[string]*Secret{}}
	rollouts := 0
	for _, document := range documents {
		switch document.Kind {
		case "Rollout":
			rollouts++
			if err := document.Node.Decode(&m.Rollout); err != nil {
				ps.Add(document.File, document.Line, "decoding Rollout: %v", err)
				continue
			}
			m.RolloutWhere = document.Where()
			m.Namespace = document.Namespace
			indexStepLines(document.Node, &m.Rollout)
		case "AnalysisTemplate", "ClusterAnalysisTemplate":
			template := &AnalysisTemplate{cluster: document.Kind == "ClusterAnalysisTemplate", where: document.Where()}
			if err := document.Node.Decode(template); err != nil {
				ps.Add(document.File, document.Line, "decoding %s: %v", document.Kind, err)
				continue
			}
			if template.cluster {
				m.Cluster[document.Name] = template
			} else {
				m.Templates[document.Name] = template
			}
			validateTemplate(&ps, document, template)
		case "VirtualService":
			vs := &VirtualService{}
			if err := document.Node.Decode(vs); err != nil {
				ps.Add(document.File, document.Line, "decoding VirtualService: %v", err)
				continue
			}
			m.VirtualServices[document.Name] = vs
		case "Service":
			m.Services[document.Name] = true
		case "Experiment":
			if m.Experiments == nil {
				m.Experiments = map[string]string{}
			}
			m.Experiments[document.Name] = document.Where()
		case "Secret":
			secret, err := decodeSecret(document)
			if err != nil {
				ps.Add(document.File, document.Line, "decoding Secret: %v", err)
				continue
			}
			m.Secrets[document.Name] = secret
		}
	}
	if m.Namespace == "" {
		m.Namespace = "default"
	}
	if rollouts == 1 {
		validateRollout(&ps, m)
	}
	return m, ps.Err()
}

// Secret is a v1 Secret as the controller reads it: its keys and values.
type Secret struct {
	Namespace string
	Data      map[string]string
}

// decodeSecret reads a Secret's data (base64, which the schema check has
// already accepted) and stringData, which the API server merges into data
// on write, stringData winning (k8s.io/kubernetes pkg/apis/core/v1
// conversion of Secret).
func decodeSecret(document scenario.Document) (*Secret, error) {
	var raw struct {
		Data       map[string]string `yaml:"data"`
		StringData map[string]string `yaml:"stringData"`
	}
	if err := document.Node.Decode(&raw); err != nil {
		return nil, err
	}
	secret := &Secret{Namespace: document.Namespace, Data: map[string]string{}}
	for key, value := range raw.Data {
		decoded, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			return nil, fmt.Errorf("data.%s is not base64: %v", key, err)
		}
		secret.Data[key] = string(decoded)
	}
	maps.Copy(secret.Data, raw.StringData)
	return secret, nil
}

// SecretValue is what the AnalysisRun controller reads for an arg's
// valueFrom.secretKeyRef in the Rollout's namespace, and its error when
// the Secret or the key is missing: the run then ends Error with "Unable
// to resolve metric arguments: <error>" (AR analysis/analysis.go:101-108,
// 265-287).
func (m *Manifests) SecretValue(ref SecretKeyRef) (string, error) {
	secret, ok := m.Secrets[ref.Name]
	if !ok || (secret.Namespace != "" && secret.Namespace != m.Namespace) {
		return "", fmt.Errorf("secrets %q not found", ref.Name)
	}
	value, ok := secret.Data[ref.Key]
	if !ok {
		return "", fmt.Errorf("key '%s' does not exist in secret '%s'", ref.Key, ref.Name)
	}
	return value, nil
}

// indexStepLines records each step's line for error messages.
func indexStepLines(node *yaml.Node, rollout *Rollout) {
	steps := scenario.Lookup(node, "spec", "strategy", "canary", "steps")
	if steps == nil || rollout.Spec.Strategy.Canary == nil {
		return
	}
	for i, item := range steps.Content {
		if i < len(rollout.Spec.Strategy.Canary.Steps) {
			rollout.Spec.Strategy.Canary.Steps[i].line = item.Line
		}
	}
}

// EntryService is where users' traffic enters without traffic routing: the
// stable Service, else the app's Service (the first that is not the canary
// Service), else the Rollout's name.
func (m *Manifests) EntryService() string {
	canary := m.Rollout.Spec.Strategy.Canary
	if canary != nil && canary.StableService != "" {
		return canary.StableService
	}
	for _, name := range slices.Sorted(maps.Keys(m.Services)) {
		if canary == nil || name != canary.CanaryService {
			return name
		}
	}
	return m.Rollout.Metadata.Name
}
