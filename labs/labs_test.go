package labs_test

import (
	"context"
	"os"
	"path/filepath"
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
