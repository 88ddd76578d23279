//go:build local

package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Scenarios on the real controller, end to end: `go test -tags local
// ./cluster/local/` (Taskfile: task local). The control plane is started once
// in a temporary directory (binaries from the cache, built on first use)
// and stopped at the end.
func TestMain(m *testing.M) {
	cfg := DefaultConfig()
	cfg.Dir, cfg.CacheDir, cfg.BinDir = os.Getenv("CANARYLAB_LOCAL_DIR"), os.Getenv("CANARYLAB_CACHE_DIR"), os.Getenv("CANARYLAB_BIN_DIR")
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "canarylab-local-")
		if err != nil {
			panic(err)
		}
		cfg.Dir = dir
	}
	shared = New(cfg)
	code := m.Run()
	if err := shared.Close(); err != nil {
		os.Stderr.WriteString("stopping the local cluster: " + err.Error() + "\n")
		code = 1
	}
	os.Exit(code)
}

// shared is the backend of every test here: its runs share the cluster
// its first run starts, and TestMain closes it.
var shared *Backend

func localBackend(*testing.T) *Backend { return shared }

func runLocal(t *testing.T, path string) *result.Result {
	t.Helper()
	sc := loadScenario(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	res, err := localBackend(t).Run(ctx, sc, runner.Options{Seed: 1})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	runner.Evaluate(sc, res)
	for _, e := range res.Events {
		t.Logf("%7.2fs %s", e.AtSeconds, e.Describe())
	}
	for _, a := range res.Assertions {
		if !a.Passed {
			t.Errorf("%s: %s: %s", sc.Metadata.Name, a.Name, a.Detail)
		}
	}
	return res
}

func TestWeightedStepsPromote(t *testing.T) {
	res := runLocal(t, "../../conformance/weighted-steps-promote.yaml")
	if res.Requests.Canary.Total == 0 {
		t.Error("the canary served no request on the real controller's weights")
	}
}

// Kinds the model does not read (an Istio Gateway, a ServiceAccount, a
// ConfigMap) are applied to the real API server, found through its
// discovery, and the run goes on as without them.
func TestOtherKindsAreApplied(t *testing.T) {
	sc := loadScenario(t, "testdata/extra-kinds-promote.yaml")
	if len(sc.Notes) != 2 {
		t.Errorf("notes %v, want the Gateway and the ServiceAccount passed over by the model", sc.Notes)
	}
	runLocal(t, "testdata/extra-kinds-promote.yaml")
}

// An abort of a fully promoted Rollout is removed by the real controller:
// the release stays promoted, as the sim's model has it.
func TestAbortAfterPromotionStaysPromoted(t *testing.T) {
	res := runLocal(t, "../../conformance/abort-after-promotion-stays-promoted.yaml")
	if _, aborted := res.First(result.RolloutAborted); aborted {
		t.Error("a RolloutAborted event for a fully promoted Rollout")
	}
}

// An analysis that ends Inconclusive during a timed pause leaves the
// rollout paused for a person once the pause has ended.
func TestInconclusiveDuringTimedPauseStaysPaused(t *testing.T) {
	res := runLocal(t, "../../conformance/inconclusive-during-timed-pause-stays-paused.yaml")
	if paused, ok := res.First(result.RolloutPaused); !ok || !strings.Contains(paused.Message, "InconclusiveAnalysisRun") {
		t.Errorf("no RolloutPaused for the inconclusive analysis: %+v", paused)
	}
}

func TestStepAnalysisFailureRollsBack(t *testing.T) {
	res := runLocal(t, "../../conformance/step-analysis-fails-rolls-back.yaml")
	measured := false
	for _, e := range res.Events {
		measured = measured || (e.Type == result.MeasurementTaken && e.Phase == "Failed")
	}
	if !measured {
		t.Error("no failed measurement: the real AnalysisRun did not judge the data plane's telemetry")
	}
}

// A cluster left in the directory is reused, not restarted.
func TestReusesRunningCluster(t *testing.T) {
	b := localBackend(t)
	state, err := b.cluster(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.cluster(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if again.Processes[0].PID != state.Processes[0].PID {
		t.Error("a second run started a new cluster")
	}
	if !state.Running() {
		t.Error("the cluster is not running")
	}
}

// An interrupted run returns what it saw, says it was interrupted, and
// deletes what it applied.
func TestInterruptedRunCleansUp(t *testing.T) {
	sc := loadScenario(t, "../../conformance/weighted-steps-promote.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := localBackend(t)
	opts := runner.Options{Seed: 1, Progress: func(_ string, e result.Event) {
		if e.Type == result.WeightChanged {
			cancel() // interrupt once the canary has traffic
		}
	}}
	res, err := b.Run(ctx, sc, opts)
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the interruption", err)
	}
	if res == nil || res.Series == nil || len(res.Events) == 0 {
		t.Fatalf("no partial result: %+v", res)
	}
	state, err := b.cluster(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	config, err := state.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	list, err := client.Resource(cluster.Rollouts).Namespace("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d Rollouts left after the interrupted run", len(list.Items))
	}
}

// The live view's path on the real controller: a promote sent while the
// rollout waits on an indefinite pause promotes it, and the state callback
// reports the real phase each second.
func TestLiveActionPromotesOnTheRealController(t *testing.T) {
	sc := loadScenario(t, "../../conformance/indefinite-pause-waits.yaml")
	actions := make(chan scenario.Event, 1)
	phases := map[string]bool{}
	var mu sync.Mutex
	opts := runner.Options{Seed: 1, Actions: actions,
		Progress: func(_ string, e result.Event) {
			if e.Type == result.RolloutPaused {
				actions <- scenario.Event{Action: scenario.ActionPromote}
			}
		},
		State: func(_ string, s runner.State) {
			mu.Lock()
			phases[s.Phase] = true
			mu.Unlock()
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := localBackend(t).Run(ctx, sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome.Result != scenario.OutcomePromoted {
		t.Fatalf("outcome %s at %gs, want promoted after the live promote", res.Outcome.Result, res.Outcome.AtSeconds)
	}
	applied := false
	for _, e := range res.Events {
		applied = applied || (e.Type == result.ActionApplied && e.Action == string(scenario.ActionPromote))
	}
	mu.Lock()
	defer mu.Unlock()
	if !applied || !phases["Paused"] || !phases["Healthy"] {
		t.Errorf("promote applied %v, phases seen %v; want the action in the timeline and Paused then Healthy", applied, phases)
	}
}

// A flagger scenario end to end on the real Flagger v1.44.0: the Canary
// initialized, the release seen at Flagger's next tick, the weights its
// VirtualService carried, the MetricTemplate judged on the data plane's
// telemetry, the phases to Succeeded, and Flagger's own messages on the
// timeline.
func TestFlaggerGoodReleasePromoted(t *testing.T) {
	res := runLocal(t, "../../conformance/flagger-good-release-promoted.yaml")
	var phases []string
	var weights []int
	messages := 0
	for _, e := range res.Events {
		switch e.Type {
		case result.CanaryPhaseChanged:
			phases = append(phases, e.Phase)
		case result.WeightChanged:
			weights = append(weights, *e.CanaryWeight)
		}
		if e.Message != "" && e.Type != result.ReleaseStarted {
			messages++
		}
	}
	if got := strings.Join(phases, ","); got != "Progressing,Promoting,Finalising,Succeeded" {
		t.Errorf("phases %s", got)
	}
	if fmt.Sprint(weights) != "[25 50 0]" {
		t.Errorf("weights %v, want the VirtualService's 25, 50, then 0 at Finalising", weights)
	}
	if messages == 0 {
		t.Error("no event carries a message of Flagger's event webhook")
	}
	if res.Requests.Canary.Total == 0 {
		t.Error("the canary served no request on Flagger's weights")
	}
}

// A bad release fails its checks against the data plane and is rolled
// back, and the abort action opens the rollback gate of a canary waiting
// for promotion.
func TestFlaggerRollbacks(t *testing.T) {
	res := runLocal(t, "../../conformance/flagger-bad-release-rolled-back.yaml")
	checks := 0
	for _, e := range res.Events {
		if e.Type == result.CheckFailed {
			checks++
		}
	}
	if checks != 3 {
		t.Errorf("%d failed checks, want the threshold's 3", checks)
	}
	runLocal(t, "../../conformance/flagger-abort-opens-rollback-gate.yaml")
}
