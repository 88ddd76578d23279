package sim_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

func load(t testing.TB, path string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func runJSON(t testing.TB, sc *scenario.Scenario, seed int64) []byte {
	t.Helper()
	res, err := sim.New().Run(context.Background(), sc, runner.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	runner.Evaluate(sc, res)
	data, err := res.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The same seed gives the same result, byte for byte; another seed moves
// the sampled traffic (and the scrape phase) and so the result.
func TestSameSeedSameBytes(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"../scenarios/bad-release-rolls-back.yaml", "../scenarios/canary-pod-killed.yaml", "../scenarios/metrics-outage-rolls-back.yaml"} {
		sc := load(t, path)
		first, second := runJSON(t, sc, 42), runJSON(t, sc, 42)
		if !bytes.Equal(first, second) {
			t.Errorf("%s: two runs with seed 42 differ", path)
		}
		if other := runJSON(t, sc, 43); bytes.Equal(first, other) {
			t.Errorf("%s: seeds 42 and 43 gave identical results; the seed has no effect", path)
		}
	}
}

func TestInterruptedRunReturnsWhatItSaw(t *testing.T) {
	t.Parallel()
	sc := load(t, "../scenarios/canary-demo-promoted.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := sim.New().Run(ctx, sc, runner.Options{Seed: 1})
	if err == nil {
		t.Fatal("a cancelled run reported no error")
	}
	if res == nil || res.Scenario != "canary-demo-promoted" {
		t.Fatalf("a cancelled run returned no partial result: %+v", res)
	}
}

// Every request of the load is accounted for, from the first second: the
// run's total is the rate times its length, unless a fault stops the load.
func TestLoadIsDeliveredInFull(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"../scenarios/crash-looping-canary-rolls-back.yaml", "../scenarios/canary-demo-promoted.yaml", "../scenarios/basic-canary-promoted.yaml"} {
		sc := load(t, path)
		res, err := sim.New().Run(context.Background(), sc, runner.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		seconds := len(res.Series.Requests.Stable)
		want := int64(sc.Spec.Load.RPS * float64(seconds))
		if res.Requests.Total < want-1 || res.Requests.Total > want+1 {
			t.Errorf("%s: %d requests in %d s at %v rps, want %d", path, res.Requests.Total, seconds, sc.Spec.Load.RPS, want)
		}
		if res.Requests.Total != res.Requests.Stable.Total+res.Requests.Canary.Total {
			t.Errorf("%s: total %d is not stable %d + canary %d", path, res.Requests.Total, res.Requests.Stable.Total, res.Requests.Canary.Total)
		}
		var perSecond int64
		for i := range res.Series.Requests.Stable {
			perSecond += res.Series.Requests.Stable[i] + res.Series.Requests.Canary[i]
		}
		if perSecond != res.Requests.Total {
			t.Errorf("%s: the series sum to %d requests, the totals to %d", path, perSecond, res.Requests.Total)
		}
	}
}
