package scenarios_test

import (
	"strconv"

	"github.com/canarylab/canarylab/runner"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func runnerOptions(seed int64) runner.Options { return runner.Options{Seed: seed} }
