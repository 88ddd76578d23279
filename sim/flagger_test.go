package sim_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

// flaggerScenario writes a Deployment, a Canary with the given analysis
// block and a scenario around them, and loads it.
func flaggerScenario(t *testing.T, analysis, release, extra string) *scenario.Scenario {
	t.Helper()
	dir := t.TempDir()
	canary := `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: app, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: app}
  service: {port: 80}
  analysis:
` + indent(analysis, "    ")
	deployment := `apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: test}
spec:
  replicas: 5
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: app, image: canarylab/demo:blue}]
`
	file := `apiVersion: canarylab.dev/v1alpha1
kind: Scenario
metadata: {name: flagger-test}
spec:
  controller: flagger
  meshProvider: istio
  manifests: [deployment.yaml, canary.yaml]
  stable: canarylab/demo:blue
  release: ` + release + `
  load: {rps: 50, duration: 15m}
` + extra + `
  expect: {outcome: promoted}
`
	for name, text := range map[string]string{"deployment.yaml": deployment, "canary.yaml": canary, "scenario.yaml": file} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sc, err := scenario.Load(filepath.Join(dir, "scenario.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func indent(text, prefix string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func runFlagger(t *testing.T, sc *scenario.Scenario, seed int64) *result.Result {
	t.Helper()
	res, err := sim.New().Run(context.Background(), sc, runner.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// detection is the tick that saw the release (the first Progressing).
func detection(t *testing.T, res *result.Result) float64 {
	t.Helper()
	for _, event := range res.Events {
		if event.Type == result.CanaryPhaseChanged && event.Phase == "Progressing" {
			return event.AtSeconds
		}
	}
	t.Fatalf("no Progressing phase in %v", res.Events)
	return 0
}

func weights(res *result.Result) []int {
	var out []int
	for _, event := range res.Events {
		if event.Type == result.WeightChanged {
			out = append(out, *event.CanaryWeight)
		}
	}
	return out
}

func count(res *result.Result, eventType string) int {
	n := 0
	for _, event := range res.Events {
		if event.Type == eventType {
			n++
		}
	}
	return n
}

const istioChecks = `metrics:
  - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
  - {name: request-duration, thresholdRange: {max: 500}, interval: 30s}
`

// The closed forms measured on the real controller
// (docs/measurements.md#flagger-ticks-and-timing):
// with pods ready within a tick, a good release is Succeeded (m+3) ticks
// after detection (m weight steps, m checks) and a bad one Failed (N+2)
// ticks after it, never beyond the first step; detection is within one
// interval of the release.
func TestFlaggerTickArithmetic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, analysis, release, outcome string
		interval, ticks                  float64
		weights                          []int
	}{
		{"good, 5 steps", "interval: 1m\nthreshold: 5\nmaxWeight: 50\nstepWeight: 10\n" + istioChecks, "canarylab/demo:green", "promoted", 60, 8, []int{10, 20, 30, 40, 50, 0}},
		{"bad, threshold 5", "interval: 1m\nthreshold: 5\nmaxWeight: 50\nstepWeight: 10\n" + istioChecks, "canarylab/demo:red", "rolled-back", 60, 7, []int{10, 0}},
		{"bad, threshold 3, 30s", "interval: 30s\nthreshold: 3\nmaxWeight: 50\nstepWeight: 10\n" + istioChecks, "canarylab/demo:red", "rolled-back", 30, 5, []int{10, 0}},
		{"step weights", "interval: 30s\nthreshold: 2\nstepWeights: [5, 10, 25, 50]\n" + istioChecks, "canarylab/demo:green", "promoted", 30, 7, []int{5, 10, 25, 50, 0}},
		{"latency regression", "interval: 30s\nthreshold: 2\nmaxWeight: 50\nstepWeight: 25\n" + istioChecks, "canarylab/demo:slow", "rolled-back", 30, 4, []int{25, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, seed := range []int64{1, 2, 7} {
				res := runFlagger(t, flaggerScenario(t, tc.analysis, tc.release, ""), seed)
				interval := tc.interval
				t0 := detection(t, res)
				if t0 < 0 || t0 >= interval+0.5 {
					t.Errorf("seed %d: release detected at %.2fs, not within one interval (%vs)", seed, t0, interval)
				}
				if res.Outcome.Result != tc.outcome {
					t.Fatalf("seed %d: outcome %s, want %s", seed, res.Outcome.Result, tc.outcome)
				}
				if got := (res.Outcome.AtSeconds - t0) / interval; math.Abs(got-tc.ticks) > 0.01 {
					t.Errorf("seed %d: outcome %.2f ticks after detection, want %v", seed, got, tc.ticks)
				}
				if got := weights(res); !equalInts(got, tc.weights) {
					t.Errorf("seed %d: weights %v, want %v", seed, got, tc.weights)
				}
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Failed checks are cumulative (FL scheduler.go:430-440): a release whose
// checks fail now and then is rolled back once the total reaches the
// threshold, although checks passed in between.
func TestFlaggerFailedChecksAreCumulative(t *testing.T) {
	t.Parallel()
	analysis := "interval: 30s\nthreshold: 3\nmaxWeight: 50\nstepWeight: 10\nmetrics:\n  - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}\n"
	// Errors injected in bursts shorter than a check apart.
	events := "  events:\n    - {at: 75s, fault: error-injection, rate: 0.5, for: 20s}\n    - {at: 165s, fault: error-injection, rate: 0.5, for: 20s}\n    - {at: 255s, fault: error-injection, rate: 0.5, for: 20s}\n"
	res := runFlagger(t, flaggerScenario(t, analysis, "canarylab/demo:green", events), 1)
	if res.Outcome.Result != "rolled-back" {
		t.Fatalf("outcome %s, want rolled-back after three scattered failures", res.Outcome.Result)
	}
	passed := 0
	for _, event := range res.Events {
		if event.Type == result.MeasurementTaken && event.Phase == "Successful" && event.AtSeconds < res.Outcome.AtSeconds {
			passed++
		}
	}
	if passed == 0 || count(res, result.CheckFailed) != 3 {
		t.Errorf("%d passing checks and %d failed checks before the rollback; want some passing and 3 failed", passed, count(res, result.CheckFailed))
	}
}

// No data is a failed check (FL prometheus.go:165-172): without traffic a
// good release is rolled back.
func TestFlaggerNoDataIsAFailedCheck(t *testing.T) {
	t.Parallel()
	analysis := "interval: 30s\nthreshold: 2\nmaxWeight: 50\nstepWeight: 10\n" + istioChecks
	res := runFlagger(t, flaggerScenario(t, analysis, "canarylab/demo:green", "  events:\n    - {at: 0s, fault: no-traffic}\n"), 3)
	if res.Outcome.Result != "rolled-back" {
		t.Fatalf("outcome %s, want rolled-back", res.Outcome.Result)
	}
	for _, event := range res.Events {
		if event.Type == result.CheckFailed && !strings.Contains(event.Message, "no values found for istio metric request-success-rate") {
			t.Errorf("failed check %q is not the no-values message", event.Message)
		}
	}
}

// A closed confirm-promotion gate holds the canary at max weight in
// WaitingPromotion, with the checks still running; promote opens it and
// Flagger promotes at its next tick, Succeeded two ticks later.
func TestFlaggerPromotionGate(t *testing.T) {
	t.Parallel()
	analysis := "interval: 30s\nthreshold: 5\nmaxWeight: 50\nstepWeight: 50\n" + istioChecks +
		"webhooks:\n  - {name: gate, type: confirm-promotion, url: http://flagger-loadtester.test/gate/check}\n"
	res := runFlagger(t, flaggerScenario(t, analysis, "canarylab/demo:green", "  events:\n    - {at: 5m, action: promote}\n"), 1)
	var waitingAt, promotingAt float64
	for _, event := range res.Events {
		if event.Type == result.CanaryPhaseChanged && event.Phase == "WaitingPromotion" {
			waitingAt = event.AtSeconds
		}
		if event.Type == result.CanaryPhaseChanged && event.Phase == "Promoting" {
			promotingAt = event.AtSeconds
		}
	}
	if waitingAt == 0 || waitingAt > 300 {
		t.Fatalf("WaitingPromotion at %v, want before the gate opens at 300s", waitingAt)
	}
	if promotingAt < 300 || promotingAt > 330.5 {
		t.Errorf("Promoting at %v, want the first tick after 300s", promotingAt)
	}
	if res.Outcome.Result != "promoted" || math.Abs(res.Outcome.AtSeconds-promotingAt-60) > 0.01 {
		t.Errorf("outcome %s at %v, want promoted two ticks after Promoting (%v)", res.Outcome.Result, res.Outcome.AtSeconds, promotingAt)
	}
	// The routes keep 50% while waiting (status.canaryWeight reads 0).
	if got := weights(res); !equalInts(got, []int{50, 0}) {
		t.Errorf("weights %v, want [50 0]", got)
	}
}

// A second release mid-analysis resets the routes and restarts the
// analysis (FL scheduler.go:327-351).
func TestFlaggerSecondReleaseRestarts(t *testing.T) {
	t.Parallel()
	analysis := "interval: 30s\nthreshold: 5\nmaxWeight: 40\nstepWeight: 20\n" + istioChecks
	res := runFlagger(t, flaggerScenario(t, analysis, "canarylab/demo:green", "  events:\n    - {at: 100s, action: release, image: canarylab/demo:yellow}\n"), 1)
	restarted := -1.0
	for _, event := range res.Events {
		if event.Type == result.WeightChanged && strings.Contains(event.Message, "Restarting analysis") {
			restarted = event.AtSeconds
		}
		if event.Type == result.CanaryPhaseChanged && event.AtSeconds > 100 && event.Phase == "Progressing" {
			t.Errorf("a CanaryPhaseChanged to Progressing at %.2fs: the phase stays Progressing through a restart", event.AtSeconds)
		}
	}
	if restarted < 100 || restarted > 130.5 {
		t.Fatalf("restart at %v, want the first tick after the release at 100s", restarted)
	}
	// Restart tick R, then weight 0 -> ready -> 20, 40, promote: R + (m+3)I with m=2.
	if res.Outcome.Result != "promoted" || math.Abs(res.Outcome.AtSeconds-restarted-150) > 0.01 {
		t.Errorf("outcome %s at %v, want promoted 150s after the restart at %v", res.Outcome.Result, res.Outcome.AtSeconds, restarted)
	}
	var atRestart *int
	for _, event := range res.Events {
		if event.Type == result.WeightChanged && event.AtSeconds == restarted {
			atRestart = event.CanaryWeight
		}
	}
	if atRestart == nil || *atRestart != 0 {
		t.Errorf("weights %v: the restart must route everything back to the primary", weights(res))
	}
}

// A slow-starting canary costs whole ticks; the primary's rolling update at
// promotion waits for its pods too (docs/measurements.md#flagger-readiness-waits).
func TestFlaggerReadinessWaitsCostTicks(t *testing.T) {
	t.Parallel()
	analysis := "interval: 10s\nthreshold: 5\nmaxWeight: 50\nstepWeight: 10\n" + istioChecks
	fast := runFlagger(t, flaggerScenario(t, analysis, "canarylab/demo:green", ""), 1)
	slow := runFlagger(t, flaggerScenario(t, analysis, "canarylab/demo:slow-start", ""), 1)
	lost := (slow.Outcome.AtSeconds - detection(t, slow)) - (fast.Outcome.AtSeconds - detection(t, fast))
	// 41 s to ready: the first step waits 5 ticks instead of 1; the primary's
	// rolling update (maxSurge 2, maxUnavailable 1, 5 pods) takes 2 x 41 s.
	if lost < 100 || math.Mod(lost, 10) > 0.01 {
		t.Errorf("a 40s start-up cost %vs, want whole ticks, over 100s", lost)
	}
}

// A canary that never becomes ready is rolled back once it has been
// unavailable longer than progressDeadlineSeconds.
func TestFlaggerProgressDeadline(t *testing.T) {
	t.Parallel()
	dir := flaggerScenario(t, "interval: 30s\nthreshold: 5\nmaxWeight: 50\nstepWeight: 10\n"+istioChecks, "canarylab/demo:crash", "")
	res := runFlagger(t, dir, 1)
	t0 := detection(t, res)
	if res.Outcome.Result != "rolled-back" || res.Outcome.AtSeconds-t0 < 600 || res.Outcome.AtSeconds-t0 > 631 {
		t.Errorf("outcome %s %.1fs after detection, want rolled-back at the first tick after 600s (the default deadline)", res.Outcome.Result, res.Outcome.AtSeconds-t0)
	}
}

// The Canary CRD's schema is part of the input: what the API server would
// reject is invalid input with file:line, never a silently defaulted run.
func TestFlaggerRejectsWhatTheCRDRejects(t *testing.T) {
	t.Parallel()
	// The analysis key is on line 7 of canary.yaml; the messages are the
	// API server's for the Canary CRD's schema.
	for _, tc := range []struct{ name, analysis, want, line string }{
		{"no interval", "threshold: 5\nstepWeight: 10\n", "spec.analysis.interval: Required value", "7"},
		{"no threshold", "interval: 1m\nstepWeight: 10\n", "spec.analysis.threshold: Required value", "7"},
		{"two strategies", "interval: 1m\nthreshold: 5\nstepWeight: 10\niterations: 5\n", `"spec.analysis" must validate one and only one schema (oneOf). Found 2 valid alternatives`, "7"},
		{"none", "interval: 1m\nthreshold: 5\n", `"spec.analysis" must validate one and only one schema (oneOf). Found none valid`, "7"},
		{"hours", "threshold: 5\ninterval: 1h\nstepWeight: 10\n", `spec.analysis.interval in body should match '^[0-9]+(m|s)'`, "9"},
		{"webhook type", "interval: 1m\nthreshold: 5\nstepWeight: 10\nwebhooks:\n  - {name: x, type: pre, url: http://flagger-loadtester.test/}\n", `spec.analysis.webhooks[0].type: Unsupported value: "pre"`, "12"},
		{"missing template", "interval: 1m\nthreshold: 5\nstepWeight: 10\nmetrics:\n  - {name: x, templateRef: {name: nope}}\n", "MetricTemplate test/nope", "12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := flaggerScenario(t, tc.analysis, "canarylab/demo:green", "")
			_, err := sim.New().Run(context.Background(), sc, runner.Options{Seed: 1})
			var invalid *scenario.InvalidError
			if !errors.As(err, &invalid) {
				t.Fatalf("got %v, want invalid input", err)
			}
			message := err.Error()
			if !strings.Contains(message, tc.want) || !strings.Contains(message, "canary.yaml:"+tc.line+":") {
				t.Errorf("error %q does not say %q at canary.yaml:%s", message, tc.want, tc.line)
			}
		})
	}
	// Accepted by the CRD: 500ms is clamped to 10s, threshold 0 means 1.
	sc := flaggerScenario(t, "interval: 500ms\nthreshold: 0\nmaxWeight: 20\nstepWeight: 10\n"+istioChecks, "canarylab/demo:red", "")
	res := runFlagger(t, sc, 1)
	if res.Outcome.Result != "rolled-back" || math.Abs(res.Outcome.AtSeconds-detection(t, res)-30) > 0.01 {
		t.Errorf("interval 500ms, threshold 0: %s %.1fs after detection, want rolled-back 3 ticks of 10s after it", res.Outcome.Result, res.Outcome.AtSeconds-detection(t, res))
	}
	if count(res, result.CheckFailed) != 1 {
		t.Errorf("threshold 0 rolled back after %d failed checks, want 1", count(res, result.CheckFailed))
	}
}

// Same seed, same bytes, for Flagger too.
func TestFlaggerSameSeedSameBytes(t *testing.T) {
	t.Parallel()
	sc := load(t, "../scenarios/flagger-linkerd-bad-release-rolled-back.yaml")
	first, second := runJSON(t, sc, 5), runJSON(t, sc, 5)
	if string(first) != string(second) {
		t.Error("two runs with seed 5 differ")
	}
	if other := runJSON(t, sc, 6); string(first) == string(other) {
		t.Error("seeds 5 and 6 gave identical results")
	}
}

// The live view's state carries Flagger's phase, weight, failed checks
// against the threshold and the last check's values.
func TestFlaggerLiveState(t *testing.T) {
	t.Parallel()
	sc := load(t, "../scenarios/flagger-linkerd-bad-release-rolled-back.yaml")
	var states []runner.State
	_, err := sim.New().Run(context.Background(), sc, runner.Options{Seed: 1, State: func(_ string, state runner.State) {
		states = append(states, state)
	}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, state := range states {
		seen[state.Phase] = true
		if strings.Contains(state.Detail, "failed checks 2/3") && strings.Contains(state.Detail, "request-success-rate") {
			seen["detail"] = true
		}
	}
	for _, want := range []string{"Progressing", "Failed", "detail"} {
		if !seen[want] {
			t.Errorf("no live state with %s; phases seen %v", want, seen)
		}
	}
}

// Mirroring: one tick mirrors traffic at weight 0 (the canary gets copies,
// users stay on the primary), the next tick takes the first real step
// (FL scheduler.go:577-588).
func TestFlaggerMirrorStep(t *testing.T) {
	t.Parallel()
	analysis := "interval: 30s\nthreshold: 5\nmaxWeight: 40\nstepWeight: 20\nmirror: true\n" + istioChecks
	mirrored := runFlagger(t, flaggerScenario(t, analysis, "canarylab/demo:green", ""), 1)
	plain := runFlagger(t, flaggerScenario(t, strings.Replace(analysis, "mirror: true\n", "", 1), "canarylab/demo:green", ""), 1)
	if got := weights(mirrored); !equalInts(got, []int{20, 40, 0}) {
		t.Errorf("weights %v, want [20 40 0]", got)
	}
	firstStep := func(res *result.Result) float64 {
		for _, event := range res.Events {
			if event.Type == result.WeightChanged {
				return event.AtSeconds - detection(t, res)
			}
		}
		return -1
	}
	if d := firstStep(mirrored) - firstStep(plain); math.Abs(d-30) > 0.01 {
		t.Errorf("the mirror tick delayed the first step by %.2fs, want one interval (30s)", d)
	}
	if mirrored.Outcome.Result != "promoted" {
		t.Errorf("outcome %s, want promoted", mirrored.Outcome.Result)
	}
}

// Linkerd's TrafficSplit has no header matching: A/B on Linkerd sends every
// request to the canary for the whole run (FL pkg/router/smi.go;
// docs/measurements.md#flagger-on-linkerd-smi), so users meet a bad release
// there.
func TestFlaggerABOnLinkerdSendsEveryoneToTheCanary(t *testing.T) {
	t.Parallel()
	analysis := "interval: 30s\nthreshold: 2\niterations: 4\nmatch:\n  - headers: {x-canary: {exact: insider}}\n" + istioChecks
	istio := runFlagger(t, flaggerScenario(t, analysis, "canarylab/demo:red", ""), 1)
	sc := flaggerScenario(t, analysis, "canarylab/demo:red", "")
	linkerdScenario := strings.Replace(string(mustRead(t, filepath.Join(sc.Dir, "canary.yaml"))), "spec:\n", "spec:\n  provider: linkerd\n", 1)
	if err := os.WriteFile(filepath.Join(sc.Dir, "canary.yaml"), []byte(linkerdScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Load(sc.Path)
	if err != nil {
		t.Fatal(err)
	}
	linkerd := runFlagger(t, sc, 1)
	if istio.Requests.Canary.Total != 0 {
		t.Errorf("Istio A/B: users sent %d requests to the canary, want 0 (they carry no header)", istio.Requests.Canary.Total)
	}
	if linkerd.Requests.Canary.Failed == 0 || linkerd.Outcome.Result != "rolled-back" {
		t.Errorf("Linkerd A/B: %s with %d failed canary requests, want rolled-back after users met the bad release", linkerd.Outcome.Result, linkerd.Requests.Canary.Failed)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// skipAnalysis promotes in the first tick the canary is ready, without a
// check (FL scheduler.go:778-850), whatever the release does.
func TestFlaggerSkipAnalysis(t *testing.T) {
	t.Parallel()
	sc := flaggerScenario(t, "interval: 30s\nthreshold: 2\nmaxWeight: 50\nstepWeight: 10\n"+istioChecks, "canarylab/demo:red", "")
	text := strings.Replace(string(mustRead(t, filepath.Join(sc.Dir, "canary.yaml"))), "spec:\n", "spec:\n  skipAnalysis: true\n", 1)
	if err := os.WriteFile(filepath.Join(sc.Dir, "canary.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Load(sc.Path)
	if err != nil {
		t.Fatal(err)
	}
	res := runFlagger(t, sc, 1)
	if res.Outcome.Result != "promoted" || math.Abs(res.Outcome.AtSeconds-detection(t, res)-30) > 0.01 || count(res, result.MeasurementTaken) != 0 {
		t.Errorf("skipAnalysis: %s %.1fs after detection with %d measurements, want promoted one tick later without any", res.Outcome.Result, res.Outcome.AtSeconds-detection(t, res), count(res, result.MeasurementTaken))
	}
}

// A controller restart stops the ticks; the new process creates the job a
// control-loop interval after it starts and ticks from there.
func TestFlaggerControllerRestart(t *testing.T) {
	t.Parallel()
	analysis := "interval: 30s\nthreshold: 5\nmaxWeight: 40\nstepWeight: 20\n" + istioChecks
	base := runFlagger(t, flaggerScenario(t, analysis, "canarylab/demo:green", ""), 1)
	res := runFlagger(t, flaggerScenario(t, analysis, "canarylab/demo:green", "  events:\n    - {at: 50s, fault: controller-restart, for: 60s}\n"), 1)
	for _, event := range res.Events {
		if event.Type == result.WeightChanged && event.AtSeconds > 50 && event.AtSeconds < 110 {
			t.Errorf("the routing changed at %.2fs while the controller was down (50s-110s)", event.AtSeconds)
		}
	}
	// Back at 110s: workers at 111s, job at 121s, ticking from there.
	after := 0.0
	for _, event := range res.Events {
		if event.Type == result.WeightChanged && event.AtSeconds > 110 {
			after = event.AtSeconds
			break
		}
	}
	if math.Abs(after-121.1) > 0.01 {
		t.Errorf("first routing change after the restart at %.2fs, want 121.1s (restart 110s + 1s start + 10s control loop + 0.1s tick)", after)
	}
	if res.Outcome.Result != "promoted" || res.Outcome.AtSeconds <= base.Outcome.AtSeconds {
		t.Errorf("outcome %s at %.1fs, want promoted later than without the restart (%.1fs)", res.Outcome.Result, res.Outcome.AtSeconds, base.Outcome.AtSeconds)
	}
}

// A bash acceptance test (every Flagger tutorial's) cannot run here: the
// scenario is refused, naming the webhook, until it declares the task's
// answer under spec.stubs; then the run uses the answer and the result
// lists it as declared. A declared failure fails the checks: the canary
// is rolled back for a webhook, not a metric.
func TestFlaggerDeclaredWebhookAnswers(t *testing.T) {
	t.Parallel()
	analysis := `interval: 30s
threshold: 2
maxWeight: 50
stepWeight: 25
webhooks:
  - name: acceptance-test
    type: pre-rollout
    url: http://flagger-loadtester.test/
    timeout: 30s
    metadata: {type: bash, cmd: "curl -sd 'test' http://app-canary.test/token | grep token"}
`
	refused := flaggerScenario(t, analysis, "canarylab/demo:green", "")
	if _, err := sim.New().Run(context.Background(), refused, runner.Options{Seed: 1}); err == nil ||
		!strings.Contains(err.Error(), "webhook acceptance-test runs a bash task") || !strings.Contains(err.Error(), "spec.stubs.webhooks") {
		t.Fatalf("an undeclared bash task: %v, want a refusal naming it and spec.stubs", err)
	}
	for answer, want := range map[string]string{"pass": "promoted", "fail": "rolled-back"} {
		sc := flaggerScenario(t, analysis, "canarylab/demo:green", "  stubs:\n    webhooks: [{name: acceptance-test, answer: "+answer+"}]")
		res, err := runner.Run(context.Background(), sim.New(), sc, runner.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome.Result != want || len(res.Declared) != 1 || res.Declared[0] != "webhook acceptance-test answers "+answer {
			t.Errorf("answer %s: outcome %s, declared %q; want %s", answer, res.Outcome.Result, res.Declared, want)
		}
		if answer == "fail" && (res.Outcome.Reason == nil || res.Outcome.Reason.Cause != result.CauseWebhook) {
			t.Errorf("a declared failure: reason %+v, want webhook", res.Outcome.Reason)
		}
	}
	unknown := flaggerScenario(t, analysis, "canarylab/demo:green", "  stubs:\n    webhooks: [{name: smoke-test, answer: pass}]")
	if _, err := sim.New().Run(context.Background(), unknown, runner.Options{Seed: 1}); err == nil || !strings.Contains(err.Error(), "does not have (its webhooks: acceptance-test)") {
		t.Errorf("a stub for a webhook the Canary lacks: %v", err)
	}
}
