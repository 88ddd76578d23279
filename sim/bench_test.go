package sim_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

// benchRollout is a 10-minute canary (20/40/60/80 with 2m30s pauses and
// background analysis every 10s) at the given request rate.
func benchRollout(b *testing.B, rps float64) { benchPromoted(b, "testdata/bench-10m.yaml", rps) }

// benchPromoted replays a scenario that must promote, at rps if set.
func benchPromoted(b *testing.B, path string, rps float64) {
	sc := load(b, path)
	if rps > 0 {
		sc.Spec.Load.RPS = rps
	}
	backend := sim.New()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := backend.Run(context.Background(), sc, runner.Options{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		if res.Outcome.Result != scenario.OutcomePromoted {
			b.Fatalf("outcome %s, want promoted", res.Outcome.Result)
		}
	}
}

func BenchmarkRollout100RPS(b *testing.B)   { benchRollout(b, 100) }
func BenchmarkRollout10000RPS(b *testing.B) { benchRollout(b, 10_000) }

// BenchmarkCatalog runs every scenario of the catalog once per iteration.
func BenchmarkCatalog(b *testing.B) {
	files, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var scenarios []*scenario.Scenario
	for _, file := range files {
		scenarios = append(scenarios, load(b, file))
	}
	backend := sim.New()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, sc := range scenarios {
			if _, err := backend.Run(context.Background(), sc, runner.Options{Seed: 1}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(scenarios)), "scenarios")
}

// BenchmarkFlaggerLinkerd is the Flagger + Linkerd setup (1m checks, 10%
// steps to 50%, two built-in Linkerd metrics and a hey load test) replaying
// a good release to its promotion, about nine virtual minutes.
func BenchmarkFlaggerLinkerd(b *testing.B) {
	benchPromoted(b, "../scenarios/flagger-linkerd-good-release-promoted.yaml", 0)
}
