package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidFilesLoad(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/valid-*.yaml")
	if len(files) < 2 {
		t.Fatal("no valid test files")
	}
	for _, file := range files {
		sc, err := Load(file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if len(sc.Documents) < 4 {
			t.Errorf("%s: %d manifest documents loaded", file, len(sc.Documents))
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	sc, err := Load("testdata/valid-minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Spec.Controller != ControllerArgoRollouts || sc.Spec.Load.RPS != DefaultRPS || sc.Spec.Load.Duration.Duration != DefaultRunLimit {
		t.Errorf("defaults: controller %q rps %v duration %v", sc.Spec.Controller, sc.Spec.Load.RPS, sc.Spec.Load.Duration)
	}
	events := sc.Spec.Events
	if events[0].Target != TargetCanary || events[0].Count != 1 {
		t.Errorf("pod-kill defaults: %+v", events[0])
	}
	if events[1].For.Duration != 10*time.Second {
		t.Errorf("controller-restart downtime %v, want 10s", events[1].For)
	}
	if events[2].Every.Duration != 10*time.Second {
		t.Errorf("gitops-revert every %v, want 10s", events[2].Every)
	}
	full, err := Load("testdata/valid-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if full.Profiles["canarylab/demo:blue"].Color != "navy" || full.Profiles["canarylab/demo:green"].Color != "green" || full.Profiles["canarylab/demo:flaky"].ErrorRate != 0.3 {
		t.Errorf("inline profiles do not override the shipped ones: %+v", full.Profiles)
	}
	if limit := full.Spec.Expect.MaxFailedRequests; limit == nil || !limit.Percent || limit.Value != 2 {
		t.Errorf("maxFailedRequests %+v", limit)
	}
	if expect := full.Spec.Expect; expect.Reason == nil || *expect.Reason != (ExpectReason{Cause: "analysis", Metric: "success-rate", Phase: "Failed"}) ||
		expect.MaxLatencyP99.Duration != 500*time.Millisecond || len(expect.WeightPath) != 2 || expect.WeightPath[0] != 20 ||
		expect.MaxCanaryWeightAfterFailure == nil || *expect.MaxCanaryWeightAfterFailure != 20 {
		t.Errorf("expectations on why: %+v", expect)
	}
	if full.Spec.Load.RPS != 120.5 || full.Spec.Load.Duration.Duration != 7*time.Minute+30*time.Second {
		t.Errorf("load %+v", full.Spec.Load)
	}
}

// Every problem of a file is reported at once, each at its line.
func TestInvalidFilesReportEveryProblemWithItsLine(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"invalid-malformed.yaml":      {":6: malformed YAML"},
		"invalid-unknown-fields.yaml": {`:11: unknown field "replicas"`, `:13: unknown field "victim"`},
		"invalid-bare-duration.yaml":  {`:12: invalid duration "300"`},
		"invalid-two-rollouts.yaml":   {"2 Rollout objects"},
		"invalid-empty.yaml":          {":1: the file is empty"},
		"invalid-expect.yaml": {
			`:14: a rolled-back outcome never has cause completed: it has analysis, webhook, progress-deadline, abort`,
			`:15: expect.maxLatencyP99 -5ms is negative`,
			`:16: expect.weightPath[1] repeats 20`,
			`:16: expect.weightPath[2] 140 is outside 0..100`,
			`:17: expect.maxCanaryWeightAfterFailure 101 is outside 0..100`,
		},
		"invalid-expect-reason.yaml": {`:15: a paused outcome's analysis ends Inconclusive, not "Failed"`},
		"invalid-many.yaml": {
			`invalid-many.yaml:1: apiVersion is "canarylab.dev/v1alpha2"`,
			`invalid-many.yaml:4: metadata.name "Many_Problems" is not a DNS label`,
			`invalid-many.yaml:6: unknown controller "spinnaker"`,
			`invalid-many.yaml:8: manifest manifests/missing.yaml not found`,
			`invalid-many.yaml:11: image "canarylab/demo:nope" has no behaviour profile`,
			`invalid-many.yaml:13: load.rps -5 is outside 0..1000000`,
			`invalid-many.yaml:16: event at -10s is negative`,
			`invalid-many.yaml:17: unknown fault "meteor-strike"`,
			`invalid-many.yaml:18: unknown action "launch"`,
			`invalid-many.yaml:19: an event is either a fault or an action, not both`,
			`invalid-many.yaml:20: error-injection rate 1.5 is outside 0..1`,
			`invalid-many.yaml:21: the release action needs an image`,
			`invalid-many.yaml:24: percentage "150%" is above 100%`,
		},
	}
	for file, wants := range cases {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			_, err := Load(filepath.Join("testdata", file))
			var invalid *InvalidError
			if !errors.As(err, &invalid) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an *InvalidError", err)
			}
			text := err.Error()
			for _, want := range wants {
				if !strings.Contains(text, want) {
					t.Errorf("missing %q in:\n%s", want, text)
				}
			}
			for _, problem := range invalid.Problems {
				if problem.Message == "" || problem.File == "" {
					t.Errorf("problem without file or message: %+v", problem)
				}
			}
		})
	}
}

// A kind the controller's model does not use (a Job, an Istio Gateway) is
// no error: it is kept for the cluster backends to apply, with a note at
// its file:line naming it as the file writes it.
func TestOtherKindsAreKeptWithANote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeScenario(t, dir, "manifests:\n    - "+abs(t, "testdata/manifests/job.yaml")+"\n    - "+abs(t, "testdata/manifests/rollout.yaml")+"\n    - "+abs(t, "testdata/manifests/services.yaml"))
	sc, err := Load(filepath.Join(dir, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Notes) != 1 || !strings.HasSuffix(sc.Notes[0].String(), "job.yaml:1: Job smoke (batch/v1) is not used by the argo-rollouts model: the sim ignores it, the cluster backends apply it") {
		t.Errorf("notes %v", sc.Notes)
	}
	kept := false
	for _, document := range sc.Documents {
		kept = kept || document.Kind == "Job"
	}
	if !kept {
		t.Error("the Job is not among the documents the cluster backends apply")
	}
}

func abs(t *testing.T, path string) string {
	t.Helper()
	absolute, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return absolute
}

func writeScenario(t *testing.T, dir, manifests string) {
	t.Helper()
	text := "apiVersion: canarylab.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: s\nspec:\n  " + manifests +
		"\n  stable: canarylab/demo:blue\n  release: canarylab/demo:green\n  expect:\n    outcome: promoted\n"
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestQuantity(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]Quantity{"2%": {2, true}, "12": {12, false}, "0.5%": {0.5, true}, " 3 ": {3, false}} {
		got, err := ParseQuantity(text)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", text, got, err, want)
		}
	}
	for _, bad := range []string{"-1", "150%", "abc", "%", ""} {
		if _, err := ParseQuantity(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if limit := (Quantity{2, true}).Limit(5000); limit != 100 {
		t.Errorf("2%% of 5000 is %v", limit)
	}
}

func TestLineFallsBackToTheEnclosingField(t *testing.T) {
	t.Parallel()
	sc, err := Load("testdata/valid-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.Line("spec.events[2].count"); got != 23 {
		t.Errorf("spec.events[2].count at line %d, want 23", got)
	}
	if got := sc.Line("spec.events[2].delay"); got != 23 {
		t.Errorf("an absent field falls back to its event's line: %d, want 23", got)
	}
	if got := sc.Line("nowhere.at.all"); got != 1 {
		t.Errorf("an unknown path: line %d, want 1", got)
	}
}

func TestLoadAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeScenario(t, dir, "manifests:\n    - "+abs(t, "testdata/manifests/rollout.yaml")+"\n    - "+abs(t, "testdata/manifests/services.yaml"))
	data, _ := os.ReadFile(filepath.Join(dir, "s.yaml"))
	os.WriteFile(filepath.Join(dir, "t.yaml"), data, 0o644)
	if _, err := LoadAll([]string{dir}); err == nil || !strings.Contains(err.Error(), `scenario name "s" is also used`) {
		t.Errorf("duplicate names: %v", err)
	}
	empty := t.TempDir()
	if _, err := LoadAll([]string{empty}); err == nil || !strings.Contains(err.Error(), "no scenario files") {
		t.Errorf("an empty directory: %v", err)
	}
	scenarios, err := LoadAll([]string{"testdata/valid-minimal.yaml", "testdata/valid-full.yaml"})
	if err != nil || len(scenarios) != 2 {
		t.Errorf("two valid files: %d %v", len(scenarios), err)
	}
}

// Argo Rollouts operations and a VirtualService revert have no Flagger
// counterpart: a Flagger scenario naming them is invalid, at their lines.
func TestFlaggerScenarioRejectsArgoOnlyEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	manifests := abs(t, "../manifests/demo/flagger")
	writeScenario(t, dir, "controller: flagger\n  manifests:\n    - "+manifests+"/deployment.yaml\n    - "+manifests+"/canary-gates.yaml\n"+
		"  events:\n    - {at: 1m, action: promote-full}\n    - {at: 2m, action: retry}\n    - {at: 3m, fault: gitops-revert}\n    - {at: 4m, action: promote}")
	_, err := Load(filepath.Join(dir, "s.yaml"))
	if err == nil {
		t.Fatal("a Flagger scenario with promote-full, retry and gitops-revert loaded")
	}
	for _, want := range []string{"s.yaml:11: action promote-full is an Argo Rollouts operation", "s.yaml:12: action retry", "s.yaml:13: gitops-revert re-applies"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "s.yaml:14") {
		t.Errorf("promote is a Flagger action (the confirm-promotion gate), but was rejected:\n%v", err)
	}
}

// A directory is searched recursively for files of kind Scenario:
// manifests next to scenarios are left alone, hidden directories are not
// searched, and a top-level YAML file that does not parse is loaded so that
// its error is reported.
func TestExpandPathsPicksScenariosByKind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scenario := "apiVersion: canarylab.dev/v1alpha1\nkind: Scenario\n"
	write("a.yaml", scenario)
	write("rollout.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\n---\nkind: Scenario\n")
	write("typo.yml", "apiVersion: canarylab.dev/v1alpha1\nkind: Senario\n")
	write("broken.yaml", "kind: [\n")
	write("team/b.yml", scenario)
	write("team/manifests/broken.yaml", "kind: [\n")
	write("team/notes.txt", scenario)
	write("manifests/rollout.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\n")
	write(".git/c.yaml", scenario)
	files, err := ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, file := range files {
		rel, _ := filepath.Rel(dir, file)
		got = append(got, filepath.ToSlash(rel))
	}
	want := "a.yaml broken.yaml team/b.yml typo.yml"
	if strings.Join(got, " ") != want {
		t.Errorf("files %q, want %s", got, want)
	}
	if _, err := ExpandPaths([]string{filepath.Join(dir, "manifests")}); err == nil ||
		!strings.Contains(err.Error(), "holds no scenario files") {
		t.Errorf("err = %v, want: holds no scenario files", err)
	}
}

// spec.meshProvider is Flagger's alone; its value and whether the Canary
// needs it are controller/flagger's rules (TestMeshProvider there).
func TestMeshProviderIsFlaggers(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../conformance/weighted-steps-promote.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "  controller: argo-rollouts\n", "  controller: argo-rollouts\n  meshProvider: istio\n", 1)
	if _, err := Parse(filepath.Join("..", "conformance", "mesh.yaml"), []byte(text)); err == nil || !strings.Contains(err.Error(), "a argo-rollouts scenario has none") {
		t.Errorf("meshProvider on an Argo Rollouts scenario: %v", err)
	}
}

// A scenario replays exactly one Rollout, except that a set whose workload
// is a standalone Experiment loads: it is valid input the controller runs,
// which the Argo Rollouts model refuses by name (exit 3), not invalid.
func TestStandaloneExperimentLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	experiment := "apiVersion: argoproj.io/v1alpha1\nkind: Experiment\nmetadata: {name: probe}\nspec:\n  templates: []\n"
	service := "apiVersion: v1\nkind: Service\nmetadata: {name: demo}\n"
	for name, text := range map[string]string{"experiment.yaml": experiment, "service.yaml": service} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scenario := func(manifest string) string {
		return "apiVersion: canarylab.dev/v1alpha1\nkind: Scenario\nmetadata: {name: probe}\nspec:\n  controller: argo-rollouts\n  manifests: [" + manifest +
			"]\n  stable: canarylab/demo:blue\n  release: canarylab/demo:green\n  expect: {outcome: promoted}\n"
	}
	if _, err := Parse(filepath.Join(dir, "scenario.yaml"), []byte(scenario("experiment.yaml"))); err != nil {
		t.Errorf("a standalone Experiment: %v", err)
	}
	if _, err := Parse(filepath.Join(dir, "scenario.yaml"), []byte(scenario("service.yaml"))); err == nil || !strings.Contains(err.Error(), "the manifests hold 0 Rollout objects") {
		t.Errorf("no Rollout and no Experiment: %v", err)
	}
}
