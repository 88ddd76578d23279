package sim_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/internal/testmanifests"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

// Rules of the Argo Rollouts controller, checked through whole runs of small
// manifests, as a user's own Rollouts would exercise them.

const services = testmanifests.IstioServices

func rollout(canaryExtra, steps string) string {
	return `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 4
  template:
    spec:
      containers: [{name: demo, image: canarylab/demo:blue}]
  strategy:
    canary:
      canaryService: demo-canary
      stableService: demo-stable
      trafficRouting:
        istio:
          virtualService: {name: demo, routes: [primary]}
` + canaryExtra + `      steps:
` + steps
}

const successRate = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: rate}
spec:
  metrics:
    - name: rate
      %s
      provider:
        prometheus:
          query: sum(irate(istio_requests_total{reporter="source",destination_service=~"demo-canary.*",response_code!~"5.*"}[1m])) / sum(irate(istio_requests_total{reporter="source",destination_service=~"demo-canary.*"}[1m]))
`

func runManifests(t *testing.T, release, events, expect string, manifests ...string) *result.Result {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, manifest := range manifests {
		name := filepath.Join(dir, "m"+string(rune('a'+i))+".yaml")
		if err := os.WriteFile(name, []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, "    - "+name)
	}
	text := "apiVersion: canarylab.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: rule\nspec:\n  manifests:\n" + strings.Join(paths, "\n") +
		"\n  stable: canarylab/demo:blue\n  release: " + release + "\n  load: {rps: 40, duration: 10m}\n" + events + "  expect:\n    outcome: " + expect + "\n"
	path := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := load(t, path)
	res, err := sim.New().Run(context.Background(), sc, runner.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	runner.Evaluate(sc, res)
	if !res.Passed {
		t.Fatalf("expected %s, got %s at %gs; events:\n%s", expect, res.Outcome.Result, res.Outcome.AtSeconds, timeline(res))
	}
	return res
}

func timeline(res *result.Result) string {
	var b strings.Builder
	for _, event := range res.Events {
		b.WriteString(strings.TrimSpace(event.Type+" "+event.Describe()) + " @" + formatFloat(event.AtSeconds) + "\n")
	}
	return b.String()
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func events(res *result.Result, eventType string) []result.Event {
	var out []result.Event
	for _, event := range res.Events {
		if event.Type == eventType {
			out = append(out, event)
		}
	}
	return out
}

// count: 5, interval: 20s, all good: five measurements, the first at the
// run's start, Successful at start + 4 intervals (AR analysis/analysis.go).
func TestCountedAnalysisTakesCountMeasurements(t *testing.T) {
	t.Parallel()
	template := strings.Replace(successRate, "%s", "interval: 20s\n      count: 5\n      initialDelay: 30s\n      successCondition: result[0] >= 0.95", 1)
	res := runManifests(t, "canarylab/demo:green", "", "promoted",
		rollout("", "        - setWeight: 25\n        - analysis: {templates: [{templateName: rate}]}\n"), services, template)
	measurements := events(res, result.MeasurementTaken)
	if len(measurements) != 5 {
		t.Fatalf("%d measurements, want 5:\n%s", len(measurements), timeline(res))
	}
	// startedAt and finishedAt are whole seconds (metav1.Time): the delay
	// and the interval count from the second they fall in.
	started := math.Floor(events(res, result.AnalysisRunStarted)[0].AtSeconds)
	if first := measurements[0].AtSeconds - started; first < 30 || first > 30.2 {
		t.Errorf("first measurement %.3fs after the run's start second, want just after the 30s initialDelay", first)
	}
	for i := 1; i < len(measurements); i++ {
		if gap := measurements[i].AtSeconds - math.Floor(measurements[i-1].AtSeconds); gap < 20 || gap > 20.1 {
			t.Errorf("measurement %d is %.3fs after the second of measurement %d, want the 20s interval", i, gap, i-1)
		}
	}
}

// A DestinationRule with subsets: weights go to the subsets of one host,
// and the canary's telemetry has that host as destination_service.
func TestSubsetRoutingWithDestinationRule(t *testing.T) {
	t.Parallel()
	vs := `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: demo}
spec:
  http:
    - name: primary
      route:
        - destination: {host: demo, subset: stable}
          weight: 100
        - destination: {host: demo, subset: canary}
          weight: 0
---
apiVersion: v1
kind: Service
metadata: {name: demo}
---
apiVersion: v1
kind: Service
metadata: {name: demo-stable}
---
apiVersion: v1
kind: Service
metadata: {name: demo-canary}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: demo}
spec:
  host: demo
  subsets: [{name: stable}, {name: canary}]
`
	r := rollout("", "        - setWeight: 50\n        - pause: {duration: 20s}\n")
	r = strings.Replace(r, "          virtualService: {name: demo, routes: [primary]}\n", "          virtualService: {name: demo, routes: [primary]}\n          destinationRule: {name: demo, canarySubsetName: canary, stableSubsetName: stable}\n", 1)
	res := runManifests(t, "canarylab/demo:red", "", "promoted", r, vs)
	if res.MaxCanaryWeight() != 100 || res.Requests.Canary.Total == 0 {
		t.Fatalf("subset routing sent %d requests to the canary (max weight %d)", res.Requests.Canary.Total, res.MaxCanaryWeight())
	}
	share := float64(res.Requests.Canary.Failed) / float64(res.Requests.Canary.Total)
	if share < 0.4 || share > 0.6 {
		t.Errorf("the red canary failed %.2f of its requests, want about 0.5", share)
	}
}

// setCanaryScale with traffic routing: replicas follow the step, not the
// weight, and an abort scales the canary down after the 30s default delay.
func TestSetCanaryScaleAndAbortDelay(t *testing.T) {
	t.Parallel()
	steps := "        - setCanaryScale: {replicas: 2}\n        - setWeight: 10\n        - pause: {}\n"
	res := runManifests(t, "canarylab/demo:green", "  events:\n    - {at: 30s, action: abort}\n", "rolled-back", rollout("", steps), services)
	aborted := events(res, result.RolloutAborted)
	scaledDown := events(res, result.CanaryScaledDown)
	if len(aborted) != 1 || len(scaledDown) != 1 {
		t.Fatalf("aborts %d, scale-downs %d:\n%s", len(aborted), len(scaledDown), timeline(res))
	}
	if delay := scaledDown[0].AtSeconds - aborted[0].AtSeconds; delay < 29 || delay > 30.5 {
		t.Errorf("the canary was scaled down %.3fs after the abort, want abortScaleDownDelaySeconds (30s, whole seconds)", delay)
	}
}

// maxTrafficWeight scales setWeight: 50 of 200 is a quarter of the traffic.
func TestMaxTrafficWeight(t *testing.T) {
	t.Parallel()
	r := rollout("", "        - setWeight: 50\n        - pause: {duration: 30s}\n")
	r = strings.Replace(r, "      trafficRouting:\n", "      trafficRouting:\n        maxTrafficWeight: 200\n", 1)
	res := runManifests(t, "canarylab/demo:green", "", "promoted", r, services)
	var during int64
	var total int64
	for i := 10; i < 30 && i < len(res.Series.Requests.Canary); i++ {
		during += res.Series.Requests.Canary[i]
		total += res.Series.Requests.Canary[i] + res.Series.Requests.Stable[i]
	}
	if share := float64(during) / float64(total); share < 0.2 || share > 0.3 {
		t.Errorf("the canary got %.2f of the traffic at setWeight 50 of 200, want 0.25", share)
	}
}

// Without progressDeadlineAbort a stuck canary degrades but is not aborted.
func TestProgressDeadlineWithoutAbortDegrades(t *testing.T) {
	t.Parallel()
	r := rollout("", "        - setWeight: 25\n        - pause: {duration: 30s}\n")
	r = strings.Replace(r, "  replicas: 4\n", "  replicas: 4\n  progressDeadlineSeconds: 30\n", 1)
	res := runManifests(t, "canarylab/demo:crash", "", "degraded", r, services)
	if len(events(res, result.RolloutAborted)) != 0 || len(events(res, result.RolloutDegraded)) != 1 {
		t.Fatalf("want one RolloutDegraded and no abort:\n%s", timeline(res))
	}
}

// The progress deadline counts from the last progress of the replicas:
// pods becoming ready every ~3s keep a 5s deadline from passing while a
// promoted basic canary replaces the stable one pod at a time (AR
// utils/conditions/conditions.go:253-282 RolloutProgressing, 341-370
// RolloutTimedOut; the shape of AR test/e2e/functional/rollout-canary-with-pause.yaml).
func TestProgressDeadlineCountsFromReplicaProgress(t *testing.T) {
	t.Parallel()
	r := `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 3
  progressDeadlineSeconds: 5
  template:
    spec:
      containers: [{name: demo, image: canarylab/demo:blue}]
  strategy:
    canary:
      steps:
        - setWeight: 20
        - pause: {}
`
	res := runManifests(t, "canarylab/demo:green", "  events:\n    - {at: 60s, action: promote}\n", "promoted", r)
	if degraded := events(res, result.RolloutDegraded); len(degraded) != 0 {
		t.Errorf("the deadline passed though the replicas progressed within it:\n%s", timeline(res))
	}
}

// Without progressDeadlineAbort a timeout is a condition, not an end:
// progress replaces it and a healthy rollout is promoted (AR
// rollout/sync.go:664-690; e2e TestCanaryProgressDeadlineExceededWithPause
// expects Degraded, then Healthy). The deadline passes a second after
// lastUpdateTime+progressDeadlineSeconds, whole seconds (requeueStuckRollout).
func TestProgressDeadlineEndsWithProgress(t *testing.T) {
	t.Parallel()
	r := rollout("", "        - setWeight: 25\n        - pause: {duration: 10s}\n")
	r = strings.Replace(r, "  replicas: 4\n", "  replicas: 4\n  progressDeadlineSeconds: 10\n", 1)
	res := runManifests(t, "canarylab/demo:slow-start", "", "promoted", r, services)
	degraded, promoted := events(res, result.RolloutDegraded), events(res, result.RolloutPromoted)
	if len(degraded) == 0 || len(promoted) != 1 || degraded[len(degraded)-1].AtSeconds > promoted[0].AtSeconds {
		t.Fatalf("want RolloutDegraded, then RolloutPromoted:\n%s", timeline(res))
	}
	if first := degraded[0].AtSeconds; first != 11 {
		t.Errorf("first RolloutDegraded at %gs, want 11s: the canary pod created at 0s, 10s deadline, requeued a second after", first)
	}
	if weights := events(res, result.WeightChanged); len(weights) == 0 || weights[0].AtSeconds < degraded[0].AtSeconds {
		t.Errorf("the canary got weight before its slow pod was ready:\n%s", timeline(res))
	}
}

// A retry as the scenario's last event, after the aborted canary was
// scaled down, still takes effect: the run does not end at the moment of
// the retry with the abort's outcome (docs/architecture.md#outcomes: a
// retry starts the rollout moving again).
func TestRetryAfterScaleDownIsTheLastEvent(t *testing.T) {
	t.Parallel()
	res := runManifests(t, "canarylab/demo:green", "  events:\n    - {at: 15s, action: abort}\n    - {at: 60s, action: retry}\n", "promoted",
		rollout("      abortScaleDownDelaySeconds: 5\n", "        - setWeight: 50\n        - pause: {duration: 10s}\n"), services)
	if scaled := events(res, result.CanaryScaledDown); len(scaled) == 0 || scaled[0].AtSeconds > 60 {
		t.Fatalf("the canary was not scaled down before the retry:\n%s", timeline(res))
	}
}

// A metric whose provider canarylab does not serve (a Job, a web service)
// is refused until the scenario declares its answer; a declared answer
// names a metric of the templates, and a declared value is JSON.
func TestDeclaredMetricAnswers(t *testing.T) {
	t.Parallel()
	load := func(stubs string) (*scenario.Scenario, error) {
		data, err := os.ReadFile("../conformance/declared-smoke-test-fails-rolls-back.yaml")
		if err != nil {
			t.Fatal(err)
		}
		text := regexp.MustCompile(`(?s)  stubs:\n.*?\n  expect:`).ReplaceAllString(string(data), stubs+"\n  expect:")
		file := filepath.Join(t.TempDir(), "scenario.yaml")
		text = strings.ReplaceAll(text, "../manifests/", filepath.Join(mustAbs(t, "../manifests"))+"/")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return scenario.Load(file)
	}
	sc, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.New().Run(context.Background(), sc, runner.Options{Seed: 1}); err == nil ||
		!strings.Contains(err.Error(), "metric smoke-test: provider job") || !strings.Contains(err.Error(), "spec.stubs.metrics") {
		t.Errorf("undeclared job metric: %v", err)
	}
	sc, err = load("  stubs:\n    metrics: [{name: smoke, answer: pass}, {name: conversion-rate, value: '{\"rate\": 0.03}'}]")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.New().Run(context.Background(), sc, runner.Options{Seed: 1}); err == nil || !strings.Contains(err.Error(), "no analysis template of the scenario has (its metrics: conversion-rate, smoke-test, success-rate)") {
		t.Errorf("a stub for a metric no template has: %v", err)
	}
	if _, err := load("  stubs:\n    metrics: [{name: smoke-test, value: 'rate: high'}]"); err == nil || !strings.Contains(err.Error(), "is not JSON") {
		t.Errorf("a value that is not JSON: %v", err)
	}
	if _, err := load("  stubs:\n    metrics: [{name: smoke-test, value: '1', answer: pass}]"); err == nil || !strings.Contains(err.Error(), "either a value") {
		t.Errorf("both a value and an answer: %v", err)
	}
	// A declared low conversion rate fails its own condition.
	sc, err = load("  stubs:\n    metrics: [{name: smoke-test, answer: pass}, {name: conversion-rate, value: '{\"rate\": 0.01}'}]")
	if err != nil {
		t.Fatal(err)
	}
	res, err := runner.Run(context.Background(), sim.New(), sc, runner.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if reason := res.Outcome.Reason; reason == nil || reason.Metric != "conversion-rate" || reason.Phase != "Failed" {
		t.Errorf("a declared value below the condition: %s, reason %+v", res.Outcome.Result, reason)
	}
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// A template arg with valueFrom.secretKeyRef takes the Secret's value
// when the run measures, over a value the Rollout passes (AR
// analysis/analysis.go:265-287): the query below matches the canary only
// with the Secret's value, so a bad release rolls back on its errors and a
// good one is promoted. Without the Secret the sim refuses the set (exit
// 3): the real controller's AnalysisRun would end Error.
func TestTemplateArgFromSecret(t *testing.T) {
	t.Parallel()
	template := `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: rate}
spec:
  args:
    - name: service
      valueFrom: {secretKeyRef: {name: analysis, key: service}}
  metrics:
    - name: rate
      interval: 10s
      count: 3
      successCondition: result[0] >= 0.95
      provider:
        prometheus:
          query: sum(irate(istio_requests_total{reporter="source",destination_service=~"{{args.service}}",response_code!~"5.*"}[1m])) / sum(irate(istio_requests_total{reporter="source",destination_service=~"{{args.service}}"}[1m]))
`
	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: analysis}\ndata:\n  service: ZGVtby1jYW5hcnkuKg==\n" // demo-canary.*
	stringData := "apiVersion: v1\nkind: Secret\nmetadata: {name: analysis}\ndata:\n  service: bm9uZQ==\nstringData:\n  service: demo-canary.*\n"
	// The Rollout passes a value that matches nothing: the Secret's wins.
	steps := "        - setWeight: 25\n        - analysis: {templates: [{templateName: rate}], args: [{name: service, value: nothing}]}\n"
	res := runManifests(t, "canarylab/demo:green", "", "promoted", rollout("", steps), services, template, secret)
	if phases := events(res, result.AnalysisRunCompleted); len(phases) != 1 || phases[0].Phase != "Successful" {
		t.Errorf("analysis runs %+v, want one Successful:\n%s", phases, timeline(res))
	}
	res = runManifests(t, "canarylab/demo:bad-15", "", "rolled-back", rollout("", steps), services, template, stringData)
	if phases := events(res, result.AnalysisRunCompleted); len(phases) != 1 || phases[0].Phase != "Failed" {
		t.Errorf("a bad release measured through the Secret's value: analysis runs %+v:\n%s", phases, timeline(res))
	}

	for name, manifests := range map[string][]string{
		`secrets "analysis" not found`:                      {rollout("", steps), services, template},
		`key 'service' does not exist in secret 'analysis'`: {rollout("", steps), services, template, strings.Replace(secret, "service:", "other:", 1)},
	} {
		dir := t.TempDir()
		var paths []string
		for i, manifest := range manifests {
			path := filepath.Join(dir, strconv.Itoa(i)+".yaml")
			if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, strconv.Quote(path))
		}
		path := filepath.Join(dir, "scenario.yaml")
		text := "apiVersion: canarylab.dev/v1alpha1\nkind: Scenario\nmetadata: {name: rule}\nspec:\n  manifests: [" + strings.Join(paths, ", ") +
			"]\n  stable: canarylab/demo:blue\n  release: canarylab/demo:green\n  expect: {outcome: promoted}\n"
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := sim.New().Run(context.Background(), load(t, path), runner.Options{Seed: 1})
		if !errors.Is(err, runner.ErrBackend) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "add the Secret to spec.manifests") {
			t.Errorf("%s: got %v, want the set refused naming the Secret", name, err)
		}
	}
}
