package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

// ndjsonLines parses stdout line by line, each line one JSON value of T.
func ndjsonLines[T any](t *testing.T, stdout string) []T {
	t.Helper()
	var items []T
	scanner := bufio.NewScanner(strings.NewReader(stdout))
	scanner.Buffer(nil, 16<<20)
	for scanner.Scan() {
		var item T
		if err := json.Unmarshal(scanner.Bytes(), &item); err != nil {
			t.Fatalf("line %d is no JSON value: %v\n%s", len(items)+1, err, scanner.Text())
		}
		items = append(items, item)
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return items
}

// jsonArray parses stdout as one JSON document: an array of T.
func jsonArray[T any](t *testing.T, stdout string) []T {
	t.Helper()
	var items []T
	decoder := json.NewDecoder(strings.NewReader(stdout))
	if err := decoder.Decode(&items); err != nil {
		t.Fatalf("stdout is no JSON array: %v\n%s", err, stdout)
	}
	if decoder.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", stdout)
	}
	return items
}

var twoScenarios = []string{"testdata/passes.yaml", "testdata/fails-expectation.yaml"}

// run -o json over several scenarios is one JSON document (an array of the
// results, as json.load wants it); -o ndjson is a result a line, each the
// Result JSON compacted.
func TestRunJSONIsOneDocument(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, append([]string{"run", "-o", "json", "--seed", "3"}, twoScenarios...)...)
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d (one expectation fails); stderr:\n%s", code, ExitFailed, stderr)
	}
	var results []result.Result
	if err := json.Unmarshal([]byte(stdout), &results); err != nil {
		t.Fatalf("json.Unmarshal: %v\n%s", err, stdout)
	}
	if len(results) != 2 || results[0].Scenario != "passes" || results[1].Scenario != "fails-expectation" || results[1].Passed {
		t.Fatalf("results %+v", results)
	}

	code, lines, stderr := run(t, append([]string{"run", "-o", "ndjson", "--seed", "3"}, twoScenarios...)...)
	if code != ExitFailed {
		t.Fatalf("ndjson: exit %d; stderr:\n%s", code, stderr)
	}
	perLine := ndjsonLines[json.RawMessage](t, lines)
	if len(perLine) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(perLine), lines)
	}
	for i, line := range perLine {
		// The same result, byte for byte, as the array's (and as
		// Result.JSON, compacted): only the wrapping differs.
		want, err := (&results[i]).JSON()
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(line, compact.Bytes()) {
			t.Errorf("line %d differs from the array's result:\n%s\nwant\n%s", i+1, line, compact.Bytes())
		}
	}
}

func TestListJSON(t *testing.T) {
	t.Parallel()
	for _, output := range []string{"json", "ndjson"} {
		t.Run(output, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, append([]string{"list", "-o", output}, twoScenarios...)...)
			if code != ExitPassed {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var items []listed
			if output == "json" {
				items = jsonArray[listed](t, stdout)
			} else {
				items = ndjsonLines[listed](t, stdout)
			}
			want := []listed{
				{Name: "passes", File: "testdata/passes.yaml", Controller: "argo-rollouts", Release: "canarylab/demo:crash",
					Description: "The crash-looping canary, aborted at its progress deadline.",
					Expectation: expectation{Outcome: "rolled-back", Within: "1m15s"}},
				{Name: "fails-expectation", File: "testdata/fails-expectation.yaml", Controller: "argo-rollouts", Release: "canarylab/demo:green",
					Description: "A good release is promoted, but this scenario expects a rollback.",
					Expectation: expectation{Outcome: "rolled-back", Within: "1m30s"}},
			}
			if len(items) != len(want) {
				t.Fatalf("%d scenarios, want %d:\n%s", len(items), len(want), stdout)
			}
			for i := range want {
				if items[i] != want[i] {
					t.Errorf("scenario %d: %+v\nwant %+v", i, items[i], want[i])
				}
			}
		})
	}
	// The field names are the contract.
	_, stdout, _ := run(t, "list", "-o", "ndjson", "testdata/passes.yaml")
	for _, key := range []string{`"name":`, `"file":`, `"controller":`, `"description":`, `"expectation":{"outcome":"rolled-back","within":"1m15s"}`} {
		if !strings.Contains(stdout, key) {
			t.Errorf("list -o ndjson lacks %s:\n%s", key, stdout)
		}
	}
}

// validate -o json gives a verdict per file, valid or not, and keeps its
// exit codes: 2 with the problems on stderr as well.
func TestValidateJSON(t *testing.T) {
	t.Parallel()
	files := []string{"testdata/passes.yaml", "testdata/invalid.yaml", "testdata/flagger-warns.yaml", "testdata/nothing-here.yaml"}
	for _, output := range []string{"json", "ndjson"} {
		t.Run(output, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, append([]string{"validate", "-o", output}, files...)...)
			if code != ExitInvalid {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitInvalid, stderr)
			}
			if !strings.Contains(stderr, "testdata/invalid.yaml:12") {
				t.Errorf("stderr lacks the problems:\n%s", stderr)
			}
			var items []validated
			if output == "json" {
				items = jsonArray[validated](t, stdout)
			} else {
				items = ndjsonLines[validated](t, stdout)
			}
			byFile := map[string]validated{}
			for _, item := range items {
				byFile[item.File] = item
			}
			if len(items) != 4 || len(byFile) != 4 {
				t.Fatalf("want a verdict for each of 4 files:\n%s", stdout)
			}
			if passes := byFile["testdata/passes.yaml"]; !passes.OK || passes.Name != "passes" || len(passes.Problems) != 0 {
				t.Errorf("passes.yaml: %+v", passes)
			}
			warns := byFile["testdata/flagger-warns.yaml"]
			if !warns.OK || len(warns.Warnings) == 0 || !strings.Contains(warns.Warnings[0], "not a flagger-loadtester URL") {
				t.Errorf("flagger-warns.yaml: %+v", warns)
			}
			invalid := byFile["testdata/invalid.yaml"]
			var wheres []string
			for _, p := range invalid.Problems {
				wheres = append(wheres, p.Where)
				if p.Message == "" {
					t.Errorf("a problem without a message: %+v", p)
				}
			}
			if invalid.OK || !slices.Contains(wheres, "testdata/invalid.yaml:12") || !slices.Contains(wheres, "testdata/invalid.yaml:7") {
				t.Errorf("invalid.yaml: %+v", invalid)
			}
			if missing := byFile["testdata/nothing-here.yaml"]; missing.OK || len(missing.Problems) != 1 {
				t.Errorf("nothing-here.yaml: %+v", missing)
			}
		})
	}
	// Valid files alone: exit 0, "problems": [] rather than null.
	code, stdout, stderr := run(t, "validate", "-o", "json", "testdata/passes.yaml", "testdata/fails-expectation.yaml")
	if code != ExitPassed || strings.Contains(stdout, "null") || len(jsonArray[validated](t, stdout)) != 2 {
		t.Errorf("exit %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// Text validate says ok for each valid file also when another is not.
func TestValidateTextNamesTheValidFiles(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, "validate", "testdata/passes.yaml", "testdata/invalid.yaml")
	if code != ExitInvalid || !strings.Contains(stdout, "ok   passes (testdata/passes.yaml)") || strings.Contains(stdout, "invalid.yaml") ||
		!strings.Contains(stderr, "testdata/invalid.yaml:12") {
		t.Errorf("exit %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestOutputFormatsAreChecked(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"run", "-o", "yaml", "testdata/passes.yaml"},
		{"list", "-o", "yaml", "testdata/passes.yaml"},
		{"validate", "-o", "xml", "testdata/passes.yaml"},
		{"version", "-o", "toml"},
		{"run", "--progress", "sometimes", "testdata/passes.yaml"},
	} {
		if code, _, stderr := run(t, args...); code != ExitInvalid || !strings.Contains(stderr, args[2]) {
			t.Errorf("%q: exit %d, want %d naming %q; stderr:\n%s", args, code, ExitInvalid, args[2], stderr)
		}
	}
}

func TestFirstSentence(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]string{
		"Users see the errors at 10% (about 3.5% of all). Then it rolls back.": "Users see the errors at 10% (about 3.5% of all).",
		"Guards with len(result) == 0 || result[0] >= 0.95. More.":             "Guards with len(result) == 0 || result[0] >= 0.95.",
		"Caught by histogram_quantile(0.99, ...) at 2s.":                       "Caught by histogram_quantile(0.99, ...) at 2s.",
		"No period at all":                   "No period at all",
		"One.\nTwo.":                         "One.",
		"A folded\n  description. And more.": "A folded description.",
		"":                                   "",
	} {
		if got := firstSentence(text); got != want {
			t.Errorf("firstSentence(%q) = %q, want %q", text, got, want)
		}
	}
}

// The outcome is said once: with a within expectation on the outcome's line.
func TestTextVerdictSaysTheOutcomeOnce(t *testing.T) {
	t.Parallel()
	code, stdout, _ := run(t, "run", "--quiet", "testdata/passes.yaml")
	if code != ExitPassed {
		t.Fatalf("exit %d", code)
	}
	verdict := stdout[strings.Index(stdout, "PASS passes"):strings.Index(stdout, "SCENARIO")]
	if n := strings.Count(verdict, "rolled-back"); n != 1 {
		t.Errorf("the verdict says the outcome %d times:\n%s", n, verdict)
	}
	if !strings.Contains(verdict, "    ✓ outcome: rolled-back at ") || !strings.Contains(verdict, ", limit 1m15s") || strings.Contains(verdict, "within:") {
		t.Errorf("the outcome's line should carry the within limit:\n%s", verdict)
	}

	late := &result.Result{Scenario: "late", Outcome: result.Outcome{Result: "promoted", AtSeconds: 95}, Assertions: []result.Assertion{
		{Name: "outcome", Passed: true, Detail: "promoted at 95s, limit 1m30s"},
		{Name: "within", Passed: false, Detail: "promoted at 95s, limit 1m30s"},
	}}
	var out bytes.Buffer
	printVerdict(&out, late)
	if want := "FAIL late: 0 of 0 requests failed (canary 0 of 0)\n    ✗ outcome: promoted at 95s, limit 1m30s\n"; out.String() != want {
		t.Errorf("a late outcome:\n%s\nwant\n%s", out.String(), want)
	}
}

// The timeline counts steps from 1, as the controller's messages do; the
// JSON keeps the 0-based index.
func TestTimelineStepsCountFromOne(t *testing.T) {
	t.Parallel()
	_, stdout, _ := run(t, "run", "testdata/fails-expectation.yaml")
	if !strings.Contains(stdout, "StepStarted step 1 setWeight: 20") || !strings.Contains(stdout, "StepCompleted step 1 Rollout step 1/") ||
		strings.Contains(stdout, "step=") {
		t.Errorf("timeline:\n%s", stdout)
	}
	_, stdout, _ = run(t, "run", "-o", "ndjson", "testdata/fails-expectation.yaml")
	if !strings.Contains(stdout, `{"atSeconds":0.05,"type":"StepStarted","step":0,`) {
		t.Errorf("the JSON's first step is no longer 0:\n%.600s", stdout)
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	_, stdout, _ := run(t, "run", "--help")
	for _, line := range strings.Split(stdout, "\n") {
		fields := strings.Fields(line)
		if len(fields) > 1 && fields[0] == "--keep" && !strings.HasPrefix(fields[1], "local") {
			t.Errorf("--keep shows a value: %q", line)
		}
		if len(fields) > 0 && fields[0] == "--report-dir" && !strings.Contains(line, "html") {
			t.Errorf("--report-dir does not say it writes HTML: %q", line)
		}
	}
	if !strings.Contains(stdout, "ndjson") {
		t.Errorf("run --help does not offer ndjson:\n%s", stdout)
	}
}

// stateBackend stands in for a backend that runs in real time: it reports
// states, then a result.
type stateBackend struct{ name string }

func (b stateBackend) Name() string { return b.name }
func (stateBackend) Close() error   { return nil }

func (b stateBackend) Run(_ context.Context, sc *scenario.Scenario, opts runner.Options) (*result.Result, error) {
	for second := range 3 {
		if opts.State != nil {
			opts.State(sc.Metadata.Name, runner.State{AtSeconds: float64(second), CanaryWeight: 10 * second, Step: second, Steps: 4, Phase: "Progressing"})
		}
	}
	return &result.Result{Scenario: sc.Metadata.Name, Backend: b.name, Seed: opts.Seed, Events: []result.Event{},
		Outcome: result.Outcome{Result: "rolled-back", AtSeconds: 2}}, nil
}

// A real-time backend shows its progress on stderr, unless --quiet or
// --progress off; the sim shows none unless --progress on. stdout is
// untouched by it.
func TestProgressOnStderr(t *testing.T) {
	t.Parallel()
	open := func(name string) (runner.Backend, error) { return stateBackend{name}, nil }
	for _, tc := range []struct {
		backend string
		args    []string
		want    bool
	}{
		{"local", nil, true},
		{"kind", []string{"-o", "json"}, true},
		{"local", []string{"--quiet"}, false},
		{"local", []string{"--progress", "off"}, false},
		{sim.Name, nil, false},
		{sim.Name, []string{"--progress", "on", "--quiet"}, true},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"run", "--backend", tc.backend, "testdata/passes.yaml"}, tc.args...)
		runWith(context.Background(), Streams{Out: &out, Err: &errOut}, args, open)
		// Not a terminal: the first state at once, the next ones at most every 10s.
		const want = "▸ passes  run 0s  wall 0s  canary 0%  step 1/4  Progressing\n"
		if got := errOut.String() == want; got != tc.want {
			t.Errorf("%q: stderr %q, want the progress line: %v", args, errOut.String(), tc.want)
		}
		if strings.Contains(out.String(), "▸") {
			t.Errorf("%q: the progress line is on stdout:\n%s", args, out.String())
		}
	}
}

// fakeClock is a wall clock a test moves.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) advance(d time.Duration) { c.now = c.now.Add(d) }
func newFakeClock() *fakeClock               { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func progressState(at float64, weight int) runner.State {
	return runner.State{AtSeconds: at, CanaryWeight: weight, Step: 1, Steps: 8, Phase: "Paused"}
}

// Where stderr is no terminal, a plain line at most every 10 seconds of
// wall time: the first state at once, then whichever comes 10s later.
func TestPlainProgressLines(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var out bytes.Buffer
	p := &progressLine{w: &out, now: clock.Now, every: 10 * time.Second}
	p.start("slow-rollout")
	clock.advance(42 * time.Second) // the cluster starts before the release
	for second := range 25 {
		p.state("slow-rollout", progressState(float64(second), 20))
		clock.advance(time.Second)
	}
	p.clear() // nothing to clear on a plain writer
	want := "▸ slow-rollout  run 0s  wall 42s  canary 20%  step 2/8  Paused\n" +
		"▸ slow-rollout  run 10s  wall 52s  canary 20%  step 2/8  Paused\n" +
		"▸ slow-rollout  run 20s  wall 1m2s  canary 20%  step 2/8  Paused\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}

	// The next scenario starts its own clock and prints its first state at once.
	out.Reset()
	p.start("next")
	clock.advance(time.Second)
	p.state("next", progressState(0, 0))
	if want := "▸ next  run 0s  wall 1s  canary 0%  step 2/8  Paused\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// On a terminal one line is rewritten in place, cut to the width, and taken
// off before other output on the same screen.
func TestTerminalProgressLine(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var screen bytes.Buffer
	p := &progressLine{w: &screen, terminal: true, width: 40, now: clock.Now, every: 10 * time.Second}
	p.start("a-scenario-with-a-long-name")
	p.state("a-scenario-with-a-long-name", progressState(1, 20))
	clock.advance(time.Second)
	p.state("a-scenario-with-a-long-name", progressState(2, 40))
	stdout := clearing{w: &screen, progress: p}
	stdout.Write([]byte("PASS a-scenario-with-a-long-name\n"))
	stdout.Write([]byte("next\n"))                         // nothing left to clear
	const line = "▸ a-scenario-with-a-long-name  run 1s …" // 39 columns of 40: no wrap
	want := "\r\x1b[K" + line + "\r\x1b[K" + strings.Replace(line, "run 1s", "run 2s", 1) + "\r\x1b[KPASS a-scenario-with-a-long-name\nnext\n"
	if screen.String() != want {
		t.Errorf("got\n%q\nwant\n%q", screen.String(), want)
	}
}

// runner.Run times the backend's run on the wall clock, beside the result.
func TestWallTimeIsMeasured(t *testing.T) {
	t.Parallel()
	sc, err := scenario.Load("testdata/passes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := runner.Run(context.Background(), slowBackend{}, sc, runner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Wall < 20*time.Millisecond || res.Wall > time.Minute {
		t.Errorf("Wall %v, want the backend's 20ms or a little more", res.Wall)
	}
	data, err := res.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ToLower(data), []byte("wall")) {
		t.Errorf("the wall time is in the JSON:\n%s", data)
	}
}

type slowBackend struct{}

func (slowBackend) Name() string { return "slow" }
func (slowBackend) Close() error { return nil }
func (slowBackend) Run(_ context.Context, sc *scenario.Scenario, opts runner.Options) (*result.Result, error) {
	time.Sleep(20 * time.Millisecond) // a backend that takes time
	return &result.Result{Scenario: sc.Metadata.Name, Backend: "slow", Seed: opts.Seed, Events: []result.Event{}}, nil
}

// The report directory's junit.xml carries the wall time of each run.
func TestReportDirJUnitHasWallTime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if code, _, stderr := run(t, "run", "-q", "--report-dir", dir, "testdata/passes.yaml"); code != ExitPassed {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// The sim runs its 91 virtual seconds in well under that on the wall clock.
	match := regexp.MustCompile(`name="passes" time="([0-9.]+)"`).FindSubmatch(data)
	if match == nil || !strings.Contains(string(data), `<property name="canarylab.runSeconds" value="91.000">`) {
		t.Fatalf("junit.xml:\n%s", data)
	}
	if seconds, err := strconv.ParseFloat(string(match[1]), 64); err != nil || seconds <= 0 || seconds >= 30 {
		t.Errorf("the case's time is %s, want the run's wall seconds (well under its 91 virtual seconds)", match[1])
	}
}
