package labs_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/canarylab/canarylab"
)

// Every lab's starting point must fail and its solution must pass, for
// several seeds, so a lab can neither be broken nor become trivial.
func TestLabs(t *testing.T) {
	t.Parallel()
	labs, err := filepath.Glob("[0-9][0-9]-*")
	if err != nil {
		t.Fatal(err)
	}
	if len(labs) < 5 {
		t.Fatalf("%d labs, want at least 5", len(labs))
	}
	for _, lab := range labs {
		t.Run(lab, func(t *testing.T) {
			t.Parallel()
			for _, file := range []string{"README.md", "solution/SOLUTION.md"} {
				if _, err := os.Stat(filepath.Join(lab, file)); err != nil {
					t.Errorf("missing %s: %v", file, err)
				}
			}
			for _, seed := range []int64{1, 2, 3} {
				if res := run(t, filepath.Join(lab, "scenario.yaml"), seed); res.Passed {
					t.Errorf("seed %d: the starting point passes: the lab is trivial", seed)
				}
				if res := run(t, filepath.Join(lab, "solution", "scenario.yaml"), seed); !res.Passed {
					t.Errorf("seed %d: the solution fails: %+v", seed, res.Assertions)
				}
			}
		})
	}
}

func run(t *testing.T, path string, seed int64) *canarylab.Result {
	t.Helper()
	sc, err := canarylab.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := canarylab.Run(context.Background(), sc, canarylab.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A shortcut that reaches the right outcome the wrong way must fail: lab
// 01 asks for 20/40/60/80, and a Rollout that jumps to 100 at once is
// promoted in time but fails the path of weights.
func TestLabShortcutsFail(t *testing.T) {
	t.Parallel()
	lab := "01-first-canary"
	dir := filepath.Join(t.TempDir(), "solution")
	for _, file := range []string{"scenario.yaml", "../manifests/services.yaml", "manifests/rollout.yaml"} {
		data, err := os.ReadFile(filepath.Join(lab, "solution", file))
		if err != nil {
			t.Fatal(err)
		}
		if file == "manifests/rollout.yaml" {
			steps := regexp.MustCompile(`(?s)      steps:\n.*`)
			if !steps.Match(data) {
				t.Fatal("the solution's Rollout has no steps to replace")
			}
			data = steps.ReplaceAll(data, []byte("      steps:\n        - setWeight: 100\n"))
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, file)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res := run(t, filepath.Join(dir, "scenario.yaml"), 1)
	failed := map[string]bool{}
	for _, assertion := range res.Assertions {
		failed[assertion.Name] = !assertion.Passed
	}
	if res.Outcome.Result != "promoted" || failed["outcome"] || !failed["weightPath"] || res.Passed {
		t.Errorf("a single setWeight: 100 must be promoted and fail only the path: outcome %s, %+v", res.Outcome.Result, res.Assertions)
	}
}
