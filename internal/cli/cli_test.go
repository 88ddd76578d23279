package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
			[]string{"flagger-canary-no-threshold.yaml:7", "spec.analysis.threshold: Required value"}},
		{"validate a Canary the CRD rejects", []string{"validate", "testdata/flagger-invalid.yaml"}, ExitInvalid,
			[]string{"flagger-canary-no-threshold.yaml:7", "spec.analysis.threshold: Required value"}},
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
	// One document, an array also for one scenario.
	var results []result.Result
	if err := json.Unmarshal([]byte(stdout), &results); err != nil || len(results) != 1 {
		t.Fatalf("stdout is not an array of one result: %v\n%s", err, stdout)
	}
	res := results[0]
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

// notifyingBuffer is a buffer a test may read while a command writes it;
// wrote signals each write.
type notifyingBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func newNotifyingBuffer() *notifyingBuffer { return &notifyingBuffer{wrote: make(chan struct{}, 1)} }

func (b *notifyingBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	b.mu.Unlock()
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return n, err
}

func (b *notifyingBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// --serve writes the same reports and JSON as a run without it; the live
// view's notes go to stderr, so stdout is the result only.
func TestServeWritesReportsAndJSON(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "reports")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := newNotifyingBuffer(), newNotifyingBuffer()
	exited := make(chan int, 1)
	go func() {
		exited <- Run(ctx, Streams{Out: out, Err: errOut},
			[]string{"run", "--serve", "127.0.0.1:0", "--pace", "1000", "--report-dir", dir, "-o", "json", "testdata/passes.yaml"})
	}()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(errOut.String(), "run finished") {
		select {
		case <-errOut.wrote:
		case code := <-exited:
			t.Fatalf("exit %d before the run finished; stderr:\n%s", code, errOut.String())
		case <-deadline:
			t.Fatalf("the run did not finish in 60s; stderr:\n%s", errOut.String())
		}
	}
	cancel() // Ctrl-C
	select {
	case code := <-exited:
		if code != ExitPassed {
			t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitPassed, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the command did not stop after the interrupt")
	}
	if !strings.Contains(errOut.String(), "live view of passes at http://127.0.0.1:") {
		t.Errorf("stderr does not say where the live view is:\n%s", errOut.String())
	}
	var results []result.Result
	if err := json.Unmarshal([]byte(out.String()), &results); err != nil || len(results) != 1 {
		t.Fatalf("stdout is not an array of one result: %v\n%s", err, out.String())
	}
	if res := results[0]; res.Scenario != "passes" || !res.Passed || res.Outcome.Result != "rolled-back" {
		t.Errorf("unexpected result: %+v", res)
	}
	for _, name := range []string{"passes.json", "passes.md", "junit.xml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("report %s not written: %v", name, err)
		}
	}
}
