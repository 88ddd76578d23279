package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/result"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), Streams{Out: &out, Err: &errOut}, args)
	return code, out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		code int
		// stderr must mention each of these
		mentions []string
	}{
		{"passing scenario", []string{"run", "testdata/passes.yaml"}, ExitPassed, nil},
		{"failed expectation", []string{"run", "testdata/fails-expectation.yaml"}, ExitFailed, nil},
		{"invalid scenario lists every problem with file:line", []string{"run", "testdata/invalid.yaml"}, ExitInvalid,
			[]string{"testdata/invalid.yaml:7", "missing.yaml", "testdata/invalid.yaml:9", "canarylab/demo:nope", "testdata/invalid.yaml:12", "meteor-strike"}},
		{"missing file", []string{"run", "testdata/nothing-here.yaml"}, ExitInvalid, []string{"nothing-here.yaml"}},
		{"unknown backend", []string{"run", "--backend", "moon", "testdata/passes.yaml"}, ExitInvalid, []string{"moon", "sim"}},
		{"unknown flag", []string{"run", "--colour"}, ExitInvalid, []string{"colour"}},
		{"unknown command", []string{"launch"}, ExitInvalid, []string{"launch"}},
		{"bad output", []string{"run", "-o", "yaml", "testdata/passes.yaml"}, ExitInvalid, []string{"yaml"}},
		{"validate invalid", []string{"validate", "testdata/invalid.yaml"}, ExitInvalid, []string{"meteor-strike"}},
		{"validate valid", []string{"validate", "testdata/passes.yaml"}, ExitPassed, nil},
		{"a Canary the CRD rejects", []string{"run", "testdata/flagger-invalid.yaml"}, ExitInvalid,
			[]string{"flagger-canary-no-threshold.yaml:8", "analysis.threshold is required"}},
		{"validate a Canary the CRD rejects", []string{"validate", "testdata/flagger-invalid.yaml"}, ExitInvalid,
			[]string{"flagger-canary-no-threshold.yaml:8", "analysis.threshold is required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, want := range tc.mentions {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not mention %q:\n%s", want, stderr)
				}
			}
		})
	}
}

// A webhook nothing answers is valid but fails as unreachable: validate
// says so, and the pre-rollout check failing rolls the release back.
func TestFlaggerWebhookNothingAnswers(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, "validate", "testdata/flagger-warns.yaml")
	if code != ExitPassed || !strings.Contains(stdout, "warning: webhook smoke (http://smoke-tests.test/run) is not a flagger-loadtester URL") {
		t.Fatalf("validate: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if code, _, stderr := run(t, "run", "testdata/flagger-warns.yaml"); code != ExitPassed {
		t.Fatalf("run: exit %d, want the unreachable pre-rollout hook to roll back; stderr:\n%s", code, stderr)
	}
}

func TestJSONOutputIsTheResult(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, "run", "-o", "json", "--seed", "7", "testdata/passes.yaml")
	if code != ExitPassed {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res result.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not a result: %v\n%s", err, stdout)
	}
	if res.Scenario != "passes" || res.Seed != 7 || res.Backend != "sim" || !res.Passed || res.Outcome.Result != "rolled-back" {
		t.Fatalf("unexpected result: %+v", res)
	}
}

func TestReportDirGetsEveryReport(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "reports")
	code, stdout, stderr := run(t, "run", "--report-dir", dir, "testdata/passes.yaml", "testdata/fails-expectation.yaml")
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d: %s", code, ExitFailed, stderr)
	}
	for _, name := range []string{"passes.json", "passes.md", "fails-expectation.json", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("report %s not written: %v", name, err)
		}
	}
	if !strings.Contains(stdout, "fails-expectation") || !strings.Contains(stdout, "passes") {
		t.Errorf("summary does not list both scenarios:\n%s", stdout)
	}
}

func TestListShowsTheCatalog(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, "list", "testdata/passes.yaml", "testdata/fails-expectation.yaml")
	if code != ExitPassed {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"NAME", "passes", "rolled-back within 1m15s", "fails-expectation"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("list does not show %q:\n%s", want, stdout)
		}
	}
}

func TestInterruptedRunExitsWithoutHanging(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	code := Run(ctx, Streams{Out: &out, Err: &errOut}, []string{"run", "testdata/passes.yaml"})
	if code != ExitBackend {
		t.Fatalf("exit %d after interrupt, want %d; stderr %s", code, ExitBackend, errOut.String())
	}
}
