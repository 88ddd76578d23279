// Package scenario is canarylab's scenario file: the API users write
// (apiVersion canarylab.dev/v1alpha1, kind Scenario). Load decodes a file
// strictly, applies defaults and validates it, reporting every problem at once
// with file:line.
package scenario

import (
	"slices"
	"strings"
	"time"

	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/scenario/duration"
	"gopkg.in/yaml.v3"
)

// The identity of a scenario file.
const (
	APIVersion = "canarylab.dev/v1alpha1"
	Kind       = "Scenario"
)

// Controllers a scenario can name.
const (
	ControllerArgoRollouts = "argo-rollouts"
	ControllerFlagger      = "flagger"
)

// Outcomes a run can end in (see docs/architecture.md#outcomes).
const (
	OutcomePromoted   = "promoted"
	OutcomeRolledBack = "rolled-back"
	OutcomePaused     = "paused"
	OutcomeDegraded   = "degraded"
)

// Fault names a fault a scenario event injects.
type Fault string

// Faults a scenario event can inject.
const (
	FaultMetricsOutage     Fault = "metrics-outage"
	FaultMetricsEmpty      Fault = "metrics-empty"
	FaultPodKill           Fault = "pod-kill"
	FaultCrashLoop         Fault = "crash-loop"
	FaultErrorInjection    Fault = "error-injection"
	FaultLatencyInjection  Fault = "latency-injection"
	FaultNoTraffic         Fault = "no-traffic"
	FaultControllerRestart Fault = "controller-restart"
	FaultGitopsRevert      Fault = "gitops-revert"
)

// Action names an operator action a scenario event applies.
type Action string

// Actions a scenario event can apply, as an operator would.
const (
	ActionPromote     Action = "promote"
	ActionPromoteFull Action = "promote-full"
	ActionAbort       Action = "abort"
	ActionRetry       Action = "retry"
	ActionRelease     Action = "release"
)

// Target is which version a fault hits.
type Target string

// Targets of a fault.
const (
	TargetCanary Target = "canary"
	TargetStable Target = "stable"
	TargetAll    Target = "all"
)

// Join lists names of the contract, comma-separated.
func Join[T ~string](names []T) string {
	texts := make([]string, len(names))
	for i, name := range names {
		texts[i] = string(name)
	}
	return strings.Join(texts, ", ")
}

// Faults lists every fault name, Actions every action name, in contract order.
var (
	Faults = []Fault{FaultMetricsOutage, FaultMetricsEmpty, FaultPodKill, FaultCrashLoop,
		FaultErrorInjection, FaultLatencyInjection, FaultNoTraffic, FaultControllerRestart, FaultGitopsRevert}
	Actions  = []Action{ActionPromote, ActionPromoteFull, ActionAbort, ActionRetry, ActionRelease}
	Outcomes = []string{OutcomePromoted, OutcomeRolledBack, OutcomePaused, OutcomeDegraded}
	Targets  = []Target{TargetCanary, TargetStable, TargetAll}
)

// ActionsFor lists the actions a controller has, in contract order: Flagger
// has no promote-full or retry (its gates are loadtester webhooks, and a
// failed canary starts again only on a new revision).
func ActionsFor(controller string) []Action {
	if controller == ControllerFlagger {
		return []Action{ActionPromote, ActionAbort, ActionRelease}
	}
	return Actions
}

// FaultsFor lists the faults a controller's scenarios can inject: Flagger
// generates its routing objects, so it has no gitops-revert.
func FaultsFor(controller string) []Fault {
	if controller == ControllerFlagger {
		return slices.DeleteFunc(slices.Clone(Faults), func(fault Fault) bool { return fault == FaultGitopsRevert })
	}
	return Faults
}

// Scenario is one scenario file.
type Scenario struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       Spec     `yaml:"spec" json:"spec"`

	// Path is the file the scenario was read from; empty for one built in Go.
	Path string `yaml:"-" json:"-"`
	// Dir is the directory manifests are resolved against.
	Dir string `yaml:"-" json:"-"`
	// Documents are the parsed manifests, in file order, filled by Load.
	Documents []Document `yaml:"-" json:"-"`
	// Profiles are fixtures/profiles.yaml merged with spec.profiles.
	Profiles fixtures.Profiles `yaml:"-" json:"-"`
	// Notes say what of the manifests canarylab passes over: objects of
	// kinds the scenario's controller model does not use, which the sim
	// ignores and the cluster backends apply.
	Notes []Problem `yaml:"-" json:"-"`
	// lines maps a field path such as "spec.events[2].at" to its line.
	lines map[string]int
}

// Metadata names and describes a scenario.
type Metadata struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// Spec is what to replay and what must happen.
type Spec struct {
	Controller string `yaml:"controller" json:"controller"`
	// MeshProvider is the mesh Flagger was installed with (its
	// -mesh-provider): one of Flagger's providers, of which the sim models
	// istio and linkerd. A Canary's spec.provider wins; a flagger scenario
	// whose Canary names none must state it (controller/flagger checks both).
	MeshProvider string            `yaml:"meshProvider,omitempty" json:"meshProvider,omitempty"`
	Manifests    []string          `yaml:"manifests" json:"manifests"`
	Stable       string            `yaml:"stable" json:"stable"`
	Release      string            `yaml:"release" json:"release"`
	Profiles     fixtures.Profiles `yaml:"profiles,omitempty" json:"profiles,omitempty"`
	Load         Traffic           `yaml:"load" json:"load"`
	Events       []Event           `yaml:"events,omitempty" json:"events,omitempty"`
	// Stubs declare answers canarylab cannot observe (a Flagger bash or
	// helm task): the run uses them, and the result lists them as
	// declared, not observed.
	Stubs  *Stubs `yaml:"stubs,omitempty" json:"stubs,omitempty"`
	Expect Expect `yaml:"expect" json:"expect"`
}

// Stubs are the answers a scenario declares.
type Stubs struct {
	// Webhooks answer Flagger webhooks by name: a loadtester task that
	// canarylab cannot run (bash, helm, kubectl, ...) or any other
	// loadtester task.
	Webhooks []WebhookStub `yaml:"webhooks,omitempty" json:"webhooks,omitempty"`
	// Metrics answer Argo Rollouts analysis metrics by name: one whose
	// provider canarylab does not serve (job, web, datadog, ...) or any
	// other.
	Metrics []MetricStub `yaml:"metrics,omitempty" json:"metrics,omitempty"`
}

// MetricStub is the declared answer of one analysis metric, at every
// measurement: either a value, which the metric's own conditions judge
// as the provider's answer would be judged, or an answer, pass or fail,
// for a metric without conditions (a job).
type MetricStub struct {
	Name string `yaml:"name" json:"name"`
	// Value is the provider's answer as JSON: 0.99, [0.99], "ok".
	Value  string `yaml:"value,omitempty" json:"value,omitempty"`
	Answer string `yaml:"answer,omitempty" json:"answer,omitempty"`
}

// WebhookStub is the declared answer of one Flagger webhook.
type WebhookStub struct {
	Name string `yaml:"name" json:"name"`
	// Answer is pass (the task succeeds: HTTP 200) or fail (HTTP 500, a
	// failed check).
	Answer string `yaml:"answer" json:"answer"`
}

// Answers of a stub.
const (
	AnswerPass = "pass"
	AnswerFail = "fail"
)

// Declared lists the scenario's stubs for a result: "webhook
// acceptance-test answers pass".
func (sc *Scenario) Declared() []string {
	if sc.Spec.Stubs == nil {
		return nil
	}
	var declared []string
	for _, stub := range sc.Spec.Stubs.Webhooks {
		declared = append(declared, "webhook "+stub.Name+" answers "+stub.Answer)
	}
	for _, stub := range sc.Spec.Stubs.Metrics {
		if stub.Answer != "" {
			declared = append(declared, "metric "+stub.Name+" answers "+stub.Answer)
		} else {
			declared = append(declared, "metric "+stub.Name+" measures "+stub.Value)
		}
	}
	return declared
}

// Traffic is the generated load.
type Traffic struct {
	// RPS is requests per second through the router.
	RPS float64 `yaml:"rps" json:"rps"`
	// Duration is the run limit, counted from the release.
	Duration duration.Duration `yaml:"duration" json:"duration"`
}

// Event is a timed fault or operator action, relative to the release.
// Exactly one of Fault and Action is set.
type Event struct {
	At     duration.Duration `yaml:"at" json:"at"`
	Fault  Fault             `yaml:"fault,omitempty" json:"fault,omitempty"`
	Action Action            `yaml:"action,omitempty" json:"action,omitempty"`
	// For is how long a fault lasts; zero means until the end of the run
	// (controller-restart: the controller's downtime, default 10s).
	For duration.Duration `yaml:"for,omitempty" json:"for,omitempty"`
	// Image is the further release of the release action.
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// Rate is the error fraction of error-injection (0..1).
	Rate *float64 `yaml:"rate,omitempty" json:"rate,omitempty"`
	// Delay is the added latency of latency-injection.
	Delay duration.Duration `yaml:"delay,omitempty" json:"delay,omitempty"`
	// Target is which version a fault hits: canary (default), stable or all.
	Target Target `yaml:"target,omitempty" json:"target,omitempty"`
	// Count is how many pods pod-kill deletes (default 1).
	Count int `yaml:"count,omitempty" json:"count,omitempty"`
	// Every is how often gitops-revert re-applies the desired weights (default 10s).
	Every duration.Duration `yaml:"every,omitempty" json:"every,omitempty"`
}

// Name is the fault or action name.
func (e Event) Name() string {
	if e.Fault != "" {
		return string(e.Fault)
	}
	return string(e.Action)
}

// Defaults applied by Load.
const (
	DefaultRPS                = 50
	DefaultRunLimit           = 10 * time.Minute
	DefaultControllerDowntime = 10 * time.Second
	DefaultGitopsRevertEvery  = 10 * time.Second
	DefaultPodKillCount       = 1
)

// Bounds of a scenario's numbers: beyond them a run would take unbounded
// time or memory, or a sum of durations would overflow. Each is checked by
// Load (exit 2, with the limit in the message) and listed in the README.
const (
	// MaxRunLimit bounds load.duration: a day of virtual time.
	MaxRunLimit = 24 * time.Hour
	// MaxRPS bounds load.rps.
	MaxRPS = 1_000_000
	// MaxEvents bounds spec.events.
	MaxEvents = 1000
	// MinGitopsRevertEvery is the shortest gitops-revert period: a GitOps
	// agent syncs every few minutes; a shorter period is no model of one.
	MinGitopsRevertEvery = time.Second
	// MaxReplicas bounds a workload's replicas (and pod-kill's count):
	// every pod is modelled; 10,000 pods run in 0.1 s, 1,000,000 do not
	// fit the event loop's bound on work per virtual second.
	MaxReplicas = 10_000
	// MaxSteps bounds a Rollout's canary steps.
	MaxSteps = 1000
	// MaxManifestBytes bounds a scenario or manifest file.
	MaxManifestBytes = 4 << 20
)

// Expect is what must happen.
type Expect struct {
	Outcome string `yaml:"outcome" json:"outcome"`
	// Within bounds the time of the outcome, from the release (zero: the run limit).
	Within            duration.Duration `yaml:"within,omitempty" json:"within,omitempty"`
	MaxFailedRequests *Quantity         `yaml:"maxFailedRequests,omitempty" json:"maxFailedRequests,omitempty"`
	MaxCanaryWeight   *int              `yaml:"maxCanaryWeight,omitempty" json:"maxCanaryWeight,omitempty"`
	// Reason is why the outcome must be reached; a field left out matches
	// any value (docs/architecture.md#reasons).
	Reason *ExpectReason `yaml:"reason,omitempty" json:"reason,omitempty"`
	// MaxLatencyP99 bounds the 99th percentile latency of every user
	// request of the run, both versions together.
	MaxLatencyP99 duration.Duration `yaml:"maxLatencyP99,omitempty" json:"maxLatencyP99,omitempty"`
	// WeightPath is the canary weights the run must route, in order, a
	// weight repeated in a row written once: [20, 40, 100, 0].
	WeightPath []int `yaml:"weightPath,omitempty" json:"weightPath,omitempty"`
	// MaxCanaryWeightAfterFailure bounds the canary weight routed from the
	// first failed measurement on: how far a release got once the
	// analysis saw it fail.
	MaxCanaryWeightAfterFailure *int `yaml:"maxCanaryWeightAfterFailure,omitempty" json:"maxCanaryWeightAfterFailure,omitempty"`
}

// ExpectReason is the expected reason of the outcome: a cause, and for an
// analysis the metric and the phase it ended in.
type ExpectReason struct {
	Cause  string `yaml:"cause" json:"cause"`
	Metric string `yaml:"metric,omitempty" json:"metric,omitempty"`
	Phase  string `yaml:"phase,omitempty" json:"phase,omitempty"`
}

// Document is one YAML document of a manifest file.
type Document struct {
	// File is the manifest path as resolved; Line the line its document starts on.
	File string
	Line int
	// APIVersion, Kind, Name and Namespace identify the object.
	APIVersion, Kind, Name, Namespace string
	// Raw is the document's YAML, for the controller model to decode.
	Raw []byte
	// Node is the parsed document, with line numbers for the model's errors.
	Node *yaml.Node
}

// Where is file:line of the document, for error messages.
func (d Document) Where() string { return Position(d.File, d.Line) }
