package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/canarylab/canarylab/result"

	"gopkg.in/yaml.v3"

	"github.com/canarylab/canarylab/fixtures"
)

// reservedNames are report files of the whole run (index.html, summary.md,
// junit.xml) that a scenario's reports must not overwrite.
var reservedNames = []string{"index", "summary", "junit"}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (sc *Scenario) validate(ps *problems) {
	file := sc.Path
	at := func(path string) int { return sc.Line(path) }

	if sc.APIVersion != APIVersion {
		ps.add(file, at("apiVersion"), "apiVersion is %q: a scenario file has apiVersion: %s", sc.APIVersion, APIVersion)
	}
	if sc.Kind != Kind {
		ps.add(file, at("kind"), "kind is %q: a scenario file has kind: %s", sc.Kind, Kind)
	}
	switch {
	case sc.Metadata.Name == "":
		ps.add(file, at("metadata"), "metadata.name is missing: name the scenario (lower case, digits and dashes)")
	case !dnsLabel.MatchString(sc.Metadata.Name) || len(sc.Metadata.Name) > 63:
		ps.add(file, at("metadata.name"), "metadata.name %q is not a DNS label: use lower case letters, digits and dashes", sc.Metadata.Name)
	case slices.Contains(reservedNames, sc.Metadata.Name):
		ps.add(file, at("metadata.name"), "metadata.name %q is reserved: a report directory holds %s.* for the whole run; choose another name", sc.Metadata.Name, sc.Metadata.Name)
	}

	spec := sc.Spec
	switch {
	case spec.MeshProvider == "":
	case spec.Controller != ControllerFlagger:
		ps.add(file, at("spec.meshProvider"), "meshProvider is the mesh Flagger was installed with: a %s scenario has none", spec.Controller)
	}
	if spec.Controller != ControllerArgoRollouts && spec.Controller != ControllerFlagger {
		ps.add(file, at("spec.controller"), "unknown controller %q: use %s or %s", spec.Controller, ControllerArgoRollouts, ControllerFlagger)
	}
	if len(spec.Manifests) == 0 {
		ps.add(file, at("spec"), "spec.manifests is empty: list the Rollout (or Canary) and analysis templates to replay")
	}
	sc.checkImage(ps, "spec.stable", spec.Stable)
	sc.checkImage(ps, "spec.release", spec.Release)
	if spec.Stable != "" && spec.Stable == spec.Release {
		ps.add(file, at("spec.release"), "release image %q is the stable image: a release needs a different image", spec.Release)
	}
	for _, image := range spec.Profiles.Images() {
		if err := spec.Profiles[image].Validate(); err != nil {
			for _, message := range strings.Split(err.Error(), "\n") {
				ps.add(file, at("spec.profiles."+image), "profile %s: %s", image, message)
			}
		}
	}

	if !(spec.Load.RPS >= 0 && spec.Load.RPS <= MaxRPS) { // NaN is neither
		ps.add(file, at("spec.load.rps"), "load.rps %v is outside 0..%d requests per second", spec.Load.RPS, MaxRPS)
	}
	if run := spec.Load.Duration.Duration; run <= 0 || run > MaxRunLimit {
		ps.add(file, at("spec.load.duration"), "load.duration %s is outside (0s, %s]: the run limit counts from the release (leave it out for %s)",
			run, MaxRunLimit, DefaultRunLimit)
	}

	if len(spec.Events) > MaxEvents {
		ps.add(file, at("spec.events"), "spec.events holds %d events: the limit is %d", len(spec.Events), MaxEvents)
	}
	for i, event := range spec.Events {
		sc.validateEvent(ps, i, event)
	}

	sc.validateStubs(ps)
	expect := spec.Expect
	switch {
	case expect.Outcome == "":
		ps.add(file, at("spec.expect"), "expect.outcome is missing: one of %s", strings.Join(Outcomes, ", "))
	case !slices.Contains(Outcomes, expect.Outcome):
		ps.add(file, at("spec.expect.outcome"), "unknown outcome %q: one of %s", expect.Outcome, strings.Join(Outcomes, ", "))
	}
	if expect.Within.Duration < 0 {
		ps.add(file, at("spec.expect.within"), "expect.within %s is negative", expect.Within.Duration)
	}
	if expect.Within.Duration > spec.Load.Duration.Duration && spec.Load.Duration.Duration > 0 {
		ps.add(file, at("spec.expect.within"), "expect.within %s is beyond the run limit load.duration %s: raise load.duration", expect.Within.Duration, spec.Load.Duration.Duration)
	}
	for _, bound := range []struct {
		field  string
		weight *int
	}{{"maxCanaryWeight", expect.MaxCanaryWeight}, {"maxCanaryWeightAfterFailure", expect.MaxCanaryWeightAfterFailure}} {
		if bound.weight != nil && (*bound.weight < 0 || *bound.weight > 100) {
			ps.add(file, at("spec.expect."+bound.field), "expect.%s %d is outside 0..100", bound.field, *bound.weight)
		}
	}
	if expect.MaxLatencyP99.Duration < 0 {
		ps.add(file, at("spec.expect.maxLatencyP99"), "expect.maxLatencyP99 %s is negative", expect.MaxLatencyP99.Duration)
	}
	if expect.WeightPath != nil && len(expect.WeightPath) == 0 {
		ps.add(file, at("spec.expect.weightPath"), "expect.weightPath is empty: list the canary weights the run must route, such as [20, 40, 100, 0]")
	}
	for i, weight := range expect.WeightPath {
		field := fmt.Sprintf("spec.expect.weightPath[%d]", i)
		switch {
		case weight < 0 || weight > 100:
			ps.add(file, at(field), "expect.weightPath[%d] %d is outside 0..100", i, weight)
		case i > 0 && weight == expect.WeightPath[i-1]:
			ps.add(file, at(field), "expect.weightPath[%d] repeats %d: a weight held over several steps is one entry of the path", i, weight)
		}
	}
	if reason := expect.Reason; reason != nil {
		for _, problem := range checkReason(spec.Controller, expect.Outcome, *reason) {
			ps.add(file, at("spec.expect.reason"+problem.Field), "%s", problem.Message)
		}
	}
}

// validateStubs checks the declared answers: each names a webhook once
// and answers pass or fail; only Flagger has webhooks. Whether the Canary
// has such a webhook is the Flagger model's check.
func (sc *Scenario) validateStubs(ps *problems) {
	stubs := sc.Spec.Stubs
	if stubs == nil {
		return
	}
	if sc.Spec.Controller != ControllerFlagger && len(stubs.Webhooks) > 0 {
		ps.add(sc.Path, sc.Line("spec.stubs.webhooks"), "spec.stubs.webhooks answers Flagger webhooks: this is an %s scenario", sc.Spec.Controller)
		return
	}
	if sc.Spec.Controller == ControllerFlagger && len(stubs.Metrics) > 0 {
		ps.add(sc.Path, sc.Line("spec.stubs.metrics"), "spec.stubs.metrics answers Argo Rollouts analysis metrics: this is a flagger scenario")
		return
	}
	metrics := map[string]bool{}
	for i, stub := range stubs.Metrics {
		field := fmt.Sprintf("spec.stubs.metrics[%d]", i)
		sc.checkStubName(ps, field, "metric", "a metric of an analysis template", stub.Name, metrics)
		switch {
		case (stub.Value == "") == (stub.Answer == ""):
			ps.add(sc.Path, sc.Line(field), "%s gives either a value (the provider's answer, judged by the metric's conditions) or an answer (pass or fail)", field)
		case stub.Answer != "" && stub.Answer != AnswerPass && stub.Answer != AnswerFail:
			ps.add(sc.Path, sc.Line(field+".answer"), "%s.answer %q: pass or fail", field, stub.Answer)
		case stub.Value != "" && !json.Valid([]byte(stub.Value)):
			ps.add(sc.Path, sc.Line(field+".value"), "%s.value %s is not JSON: write a number (0.99), a list ([0.99]) or a quoted string", field, stub.Value)
		}
	}
	webhooks := map[string]bool{}
	for i, stub := range stubs.Webhooks {
		field := fmt.Sprintf("spec.stubs.webhooks[%d]", i)
		sc.checkStubName(ps, field, "webhook", "a webhook of the Canary", stub.Name, webhooks)
		if stub.Answer != AnswerPass && stub.Answer != AnswerFail {
			ps.add(sc.Path, sc.Line(field+".answer"), "%s.answer %q: pass or fail", field, stub.Answer)
		}
	}
}

// checkStubName checks that a stub names its webhook or metric, once.
func (sc *Scenario) checkStubName(ps *problems, field, kind, what, name string, seen map[string]bool) {
	switch {
	case name == "":
		ps.add(sc.Path, sc.Line(field), "%s.name is missing: name %s", field, what)
	case seen[name]:
		ps.add(sc.Path, sc.Line(field+".name"), "%s %s is answered twice", kind, name)
	}
	seen[name] = true
}

// causesOf are the causes each outcome can have (see result.FindReason).
var causesOf = map[string][]string{
	OutcomePromoted:   {result.CauseCompleted, result.CausePromoteFull},
	OutcomeRolledBack: {result.CauseAnalysis, result.CauseWebhook, result.CauseProgressDeadline, result.CauseAbort},
	OutcomePaused:     {result.CauseAnalysis, result.CausePause},
	OutcomeDegraded:   {result.CauseProgressDeadline},
}

// checkReason says what is wrong with an expected reason: a cause the
// outcome cannot have or the controller does not know, a metric or phase
// on a cause that is no analysis. Fields are relative to expect.reason.
func checkReason(controller, outcome string, reason ExpectReason) []FieldProblem {
	var problems []FieldProblem
	causes := causesOf[outcome]
	switch {
	case reason.Cause == "":
		return []FieldProblem{{"", "expect.reason.cause is missing: one of " + strings.Join(result.Causes, ", ")}}
	case !slices.Contains(result.Causes, reason.Cause):
		return []FieldProblem{{".cause", fmt.Sprintf("unknown cause %q: one of %s", reason.Cause, strings.Join(result.Causes, ", "))}}
	case causes != nil && !slices.Contains(causes, reason.Cause):
		return []FieldProblem{{".cause", fmt.Sprintf("a %s outcome never has cause %s: it has %s", outcome, reason.Cause, strings.Join(causes, ", "))}}
	case controller == ControllerFlagger && reason.Cause == result.CausePromoteFull:
		return []FieldProblem{{".cause", "Flagger has no promote-full: its promotions complete"}}
	case controller != ControllerFlagger && reason.Cause == result.CauseWebhook:
		return []FieldProblem{{".cause", "cause webhook is Flagger's: an Argo Rollouts analysis decides through its metrics (cause analysis)"}}
	}
	if reason.Cause != result.CauseAnalysis {
		if reason.Metric != "" {
			problems = append(problems, FieldProblem{".metric", "expect.reason.metric is for cause analysis only"})
		}
		if reason.Phase != "" {
			problems = append(problems, FieldProblem{".phase", "expect.reason.phase is for cause analysis only"})
		}
		return problems
	}
	phases := []string{"Failed", "Error"}
	if outcome == OutcomePaused {
		phases = []string{"Inconclusive"}
	}
	if reason.Phase != "" && !slices.Contains(phases, reason.Phase) {
		problems = append(problems, FieldProblem{".phase", fmt.Sprintf("a %s outcome's analysis ends %s, not %q", outcome, strings.Join(phases, " or "), reason.Phase)})
	}
	return problems
}

func (sc *Scenario) checkImage(ps *problems, path, image string) {
	for _, problem := range sc.imageProblems(path, image) {
		ps.add(sc.Path, sc.Line(problem.Field), "%s", problem.Message)
	}
}

// imageProblems says what is wrong with the image of field (a path).
func (sc *Scenario) imageProblems(field, image string) []FieldProblem {
	if image == "" {
		return []FieldProblem{{field, fmt.Sprintf("%s is missing: name an image such as canarylab/demo:blue", field)}}
	}
	if _, ok := sc.Profiles[image]; !ok && sc.Profiles != nil {
		return []FieldProblem{{field, fmt.Sprintf("image %q has no behaviour profile: use one of fixtures/profiles.yaml (%s) or add it under spec.profiles",
			image, strings.Join(sc.Profiles.Images(), ", "))}}
	}
	return nil
}

func (sc *Scenario) validateEvent(ps *problems, index int, event Event) {
	path := fmt.Sprintf("spec.events[%d]", index)
	if event.At.Duration < 0 {
		ps.add(sc.Path, sc.Line(path+".at"), "event at %s is negative: events are timed from the release (0s or later)", event.At.Duration)
	}
	if event.At.Duration > sc.Spec.Load.Duration.Duration && sc.Spec.Load.Duration.Duration > 0 {
		ps.add(sc.Path, sc.Line(path+".at"), "event at %s is after the run limit load.duration %s", event.At.Duration, sc.Spec.Load.Duration.Duration)
	}
	for _, problem := range sc.CheckEvent(event) {
		line := sc.Line(path)
		if problem.Field != "" {
			line = sc.Line(path + "." + problem.Field)
		}
		ps.add(sc.Path, line, "%s", problem.Message)
	}
}

// FieldProblem is one thing wrong with an event: the field it concerns
// ("" for the event as a whole) and what is wrong.
type FieldProblem struct {
	Field, Message string
}

// CheckEvent lists what is wrong with an event of this scenario, whenever
// it happens: the one rule set of the scenario file's events and of the
// live view's actions. Defaults (DefaultEvent) must be applied first.
func (sc *Scenario) CheckEvent(event Event) []FieldProblem {
	var found []FieldProblem
	add := func(field, format string, args ...any) {
		found = append(found, FieldProblem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if event.For.Duration < 0 || event.For.Duration > MaxRunLimit {
		add("for", "event for %s is outside 0s..%s (leave it out: a fault lasts to the end of the run)", event.For.Duration, MaxRunLimit)
	}
	switch {
	case event.Fault != "" && event.Action != "":
		add("", "an event is either a fault or an action, not both (%s and %s)", event.Fault, event.Action)
		return found
	case event.Fault == "" && event.Action == "":
		add("", "an event needs a fault (%s) or an action (%s)", Join(Faults), Join(Actions))
		return found
	}
	if event.Action != "" {
		if !slices.Contains(Actions, event.Action) {
			add("action", "unknown action %q: one of %s", event.Action, Join(Actions))
			return found
		}
		if !slices.Contains(ActionsFor(sc.Spec.Controller), event.Action) {
			// Flagger has no such operation: its gates are loadtester webhooks,
			// and a failed canary starts again only on a new revision.
			add("action", "action %s is an Argo Rollouts operation; with Flagger use promote (opens the confirm-promotion gate), abort (opens the rollback gate) or release (a new revision)", event.Action)
		}
		if event.Action == ActionRelease && event.Image == "" {
			add("image", "the release action needs an image, such as canarylab/demo:yellow")
		} else if event.Action == ActionRelease {
			found = append(found, sc.imageProblems("image", event.Image)...)
		} else if event.Image != "" {
			add("image", "image is only for the release action")
		}
		for _, setting := range []struct {
			field string
			set   bool
		}{{"for", event.For.Duration != 0}, {"rate", event.Rate != nil}, {"delay", event.Delay.Duration != 0},
			{"target", event.Target != ""}, {"count", event.Count != 0}, {"every", event.Every.Duration != 0}} {
			if setting.set {
				add(setting.field, "%s is a fault setting; action %s does not take it", setting.field, event.Action)
			}
		}
		return found
	}
	if !slices.Contains(Faults, event.Fault) {
		add("fault", "unknown fault %q: one of %s", event.Fault, Join(Faults))
		return found
	}
	if !slices.Contains(FaultsFor(sc.Spec.Controller), event.Fault) {
		add("fault", "gitops-revert re-applies a VirtualService from Git; Flagger generates its routing objects, so a Flagger scenario has none to revert")
	}
	if event.Image != "" {
		add("image", "image is only for the release action")
	}
	if !slices.Contains(Targets, event.Target) {
		add("target", "unknown target %q: canary, stable or all", event.Target)
	}
	switch event.Fault {
	case FaultErrorInjection:
		if event.Rate == nil {
			add("", "error-injection needs a rate (0..1), e.g. rate: 0.1")
		} else if !(*event.Rate >= 0 && *event.Rate <= 1) { // NaN is neither
			add("rate", "error-injection rate %v is outside 0..1", *event.Rate)
		}
	case FaultLatencyInjection:
		if event.Delay.Duration <= 0 {
			add("", "latency-injection needs a positive delay, e.g. delay: 500ms")
		} else if event.Delay.Duration > fixtures.MaxLatency {
			add("delay", "latency-injection delay %s is above %s", event.Delay.Duration, fixtures.MaxLatency)
		}
	case FaultPodKill:
		if event.Count < 0 || event.Count > MaxReplicas {
			add("count", "pod-kill count %d is outside 0..%d", event.Count, MaxReplicas)
		}
	case FaultGitopsRevert:
		if every := event.Every.Duration; every < MinGitopsRevertEvery || every > MaxRunLimit {
			add("every", "gitops-revert every %s is outside %s..%s", every, MinGitopsRevertEvery, MaxRunLimit)
		}
	}
	for _, setting := range []struct {
		field string
		of    Fault
		set   bool
	}{{"rate", FaultErrorInjection, event.Rate != nil}, {"delay", FaultLatencyInjection, event.Delay.Duration != 0},
		{"count", FaultPodKill, event.Count != 0}, {"every", FaultGitopsRevert, event.Every.Duration != 0}} {
		if setting.set && event.Fault != setting.of {
			add(setting.field, "%s is a setting of %s, not of %s", setting.field, setting.of, event.Fault)
		}
	}
	return found
}

// manifestKinds are the kinds each controller's model reads; others are
// passed over with a note.
var manifestKinds = map[string][]string{
	ControllerArgoRollouts: {"argoproj.io/Rollout", "argoproj.io/AnalysisTemplate", "argoproj.io/ClusterAnalysisTemplate",
		"/Service", "networking.istio.io/VirtualService", "networking.istio.io/DestinationRule", "/ConfigMap", "/Secret"},
	ControllerFlagger: {"flagger.app/Canary", "flagger.app/MetricTemplate", "apps/Deployment", "/Service",
		"autoscaling/HorizontalPodAutoscaler", "/ConfigMap", "/Secret"},
}

// group is the API group of an apiVersion ("" for the core group).
func group(apiVersion string) string {
	if slash := strings.Index(apiVersion, "/"); slash >= 0 {
		return apiVersion[:slash]
	}
	return ""
}

func (sc *Scenario) loadManifests(ps *problems) {
	allowed := manifestKinds[sc.Spec.Controller]
	for i, manifest := range sc.Spec.Manifests {
		line := sc.Line(fmt.Sprintf("spec.manifests[%d]", i))
		if manifest == "" {
			ps.add(sc.Path, line, "manifest path is empty")
			continue
		}
		path := manifest
		if !filepath.IsAbs(path) {
			path = filepath.Join(sc.Dir, manifest)
		}
		data, err := ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			ps.add(sc.Path, line, "manifest %s not found (resolved to %s, relative to the scenario file)", manifest, path)
			continue
		case err != nil:
			ps.add(sc.Path, line, "manifest %s (resolved to %s) cannot be read: %v", manifest, path, err)
			continue
		}
		documents, err := SplitDocuments(path, data)
		if err != nil {
			var invalid *InvalidError
			if errors.As(err, &invalid) {
				ps.list = append(ps.list, invalid.Problems...)
			}
			continue
		}
		if len(documents) == 0 {
			ps.add(path, 1, "manifest holds no Kubernetes objects")
		}
		for _, document := range documents {
			if allowed != nil && !slices.Contains(allowed, group(document.APIVersion)+"/"+document.Kind) {
				sc.Notes = append(sc.Notes, Problem{File: path, Line: document.Line, Message: fmt.Sprintf(
					"%s %s (%s) is not used by the %s model: the sim ignores it, the cluster backends apply it",
					document.Kind, document.Name, document.APIVersion, sc.Spec.Controller)})
			}
			sc.Documents = append(sc.Documents, document)
		}
	}
	if allowed == nil || len(sc.Documents) == 0 {
		return
	}
	workload := "Rollout"
	if sc.Spec.Controller == ControllerFlagger {
		workload = "Canary"
	}
	count, experiments := 0, 0
	for _, document := range sc.Documents {
		switch document.Kind {
		case workload:
			count++
		case "Experiment":
			experiments++
		}
	}
	switch {
	case count == 0 && experiments > 0 && sc.Spec.Controller == ControllerArgoRollouts:
		// A standalone Experiment is valid input the controller runs;
		// controller/argorollouts refuses it by name (exit 3).
	case count != 1:
		ps.add(sc.Path, sc.Line("spec.manifests"), "the manifests hold %d %s objects: a %s scenario replays exactly one", count, workload, sc.Spec.Controller)
	}
}

// SplitDocuments reads every YAML document of a manifest file.
func SplitDocuments(path string, data []byte) ([]Document, error) {
	var ps problems
	var documents []Document
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var node yaml.Node
		err := decoder.Decode(&node)
		if err == io.EOF {
			break
		}
		if err != nil {
			line, message := splitSyntaxError(err.Error())
			ps.add(path, line, "malformed YAML: %s", message)
			break
		}
		if len(node.Content) == 0 || node.Content[0].Kind != yaml.MappingNode {
			if len(node.Content) > 0 && node.Content[0].Tag == "!!null" {
				continue
			}
			ps.add(path, node.Line, "a manifest document must be a Kubernetes object (a mapping with apiVersion and kind)")
			continue
		}
		var meta struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Metadata   struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
		}
		if err := node.Decode(&meta); err != nil {
			line, message := splitYAMLError(err.Error())
			ps.add(path, line, "%s", message)
			continue
		}
		line := node.Content[0].Line
		if meta.APIVersion == "" || meta.Kind == "" {
			ps.add(path, line, "document has no apiVersion or kind")
			continue
		}
		if meta.Metadata.Name == "" {
			ps.add(path, line, "%s has no metadata.name", meta.Kind)
			continue
		}
		raw, err := yaml.Marshal(node.Content[0])
		if err != nil {
			ps.add(path, line, "cannot re-encode document: %v", err)
			continue
		}
		documents = append(documents, Document{File: path, Line: line, APIVersion: meta.APIVersion, Kind: meta.Kind,
			Name: meta.Metadata.Name, Namespace: meta.Metadata.Namespace, Raw: raw, Node: node.Content[0]})
	}
	return documents, ps.err()
}
