package reports

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canarylab/canarylab/result"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// rolledBack is a release that the analysis caught: rolled back, but with
// more failed requests than the scenario allows, so it did not pass.
func rolledBack() *result.Result {
	const analysisRun = "demo-6c9f5d-2-1"
	return &result.Result{
		Scenario: "bad-release-rolls-back", Backend: "sim", Seed: 7, Passed: false,
		Outcome: result.Outcome{Result: "rolled-back", AtSeconds: 30.5,
			Reason: &result.Reason{Cause: result.CauseAnalysis, AnalysisRun: analysisRun, Metric: "success-rate", Phase: "Failed"}},
		Requests: result.Requests{Total: 2700, Failed: 96, LatencyP99Ms: 96.5,
			Stable: result.Counts{Total: 2400, Failed: 0}, Canary: result.Counts{Total: 300, Failed: 96}},
		Events: []result.Event{
			{AtSeconds: 0, Type: result.ReleaseStarted, Image: "canarylab/demo:red"},
			{AtSeconds: 0, Type: result.StepStarted, Step: result.IntPtr(0)},
			{AtSeconds: 0.5, Type: result.WeightChanged, CanaryWeight: result.IntPtr(20)},
			{AtSeconds: 0.5, Type: result.StepCompleted, Step: result.IntPtr(0)},
			{AtSeconds: 0.5, Type: result.AnalysisRunStarted, AnalysisRun: analysisRun},
			{AtSeconds: 10.5, Type: result.MeasurementTaken, AnalysisRun: analysisRun, Metric: "success-rate", Phase: "Successful", Value: "[0.97]"},
			{AtSeconds: 20.5, Type: result.MeasurementTaken, AnalysisRun: analysisRun, Metric: "success-rate", Phase: "Failed", Value: "[0.51]"},
			{AtSeconds: 30.5, Type: result.MeasurementTaken, AnalysisRun: analysisRun, Metric: "success-rate", Phase: "Failed", Value: "[0.49]"},
			{AtSeconds: 30.5, Type: result.AnalysisRunCompleted, AnalysisRun: analysisRun, Phase: "Failed"},
			{AtSeconds: 30.5, Type: result.RolloutAborted, Message: `Metric "success-rate" assessed Failed due to failed (2) > failureLimit (1)`},
			{AtSeconds: 30.5, Type: result.WeightChanged, CanaryWeight: result.IntPtr(0)},
			{AtSeconds: 60.5, Type: result.CanaryScaledDown},
		},
		Assertions: []result.Assertion{
			{Name: "outcome", Passed: true, Detail: "expected rolled-back within 1m30s, observed rolled-back at 30.5s"},
			{Name: "maxFailedRequests", Passed: false, Detail: "expected at most 2%, observed 96 of 2700 (3.56%)"},
			{Name: "maxCanaryWeight", Passed: true, Detail: "expected at most 50%, observed 20%"},
		},
		Wall: 412 * time.Millisecond, // a sim run: far shorter than the run's 60.5 virtual seconds
	}
}

// promoted is a good release that went all the way, with a series that
// outlasts the last event.
func promoted() *result.Result {
	series := &result.Series{StepSeconds: 1, CanaryWeight: make([]int, 107)}
	return &result.Result{
		Scenario: "canary-demo-promoted", Backend: "local", Seed: 7, Passed: true,
		Outcome: result.Outcome{Result: "promoted", AtSeconds: 75.25},
		Requests: result.Requests{Total: 5350, Failed: 2,
			Stable: result.Counts{Total: 3100, Failed: 2}, Canary: result.Counts{Total: 2250, Failed: 0}},
		Events: []result.Event{
			{AtSeconds: 0, Type: result.ReleaseStarted, Image: "canarylab/demo:green"},
			{AtSeconds: 0.25, Type: result.WeightChanged, CanaryWeight: result.IntPtr(20)},
			{AtSeconds: 0.25, Type: result.PauseStarted, Step: result.IntPtr(1)},
			{AtSeconds: 30.25, Type: result.PauseEnded, Step: result.IntPtr(1)},
			{AtSeconds: 30.25, Type: result.WeightChanged, CanaryWeight: result.IntPtr(50)},
			{AtSeconds: 60.25, Type: result.WeightChanged, CanaryWeight: result.IntPtr(100)},
			{AtSeconds: 75.25, Type: result.RolloutPromoted},
			{AtSeconds: 105.25, Type: result.CanaryScaledDown},
		},
		Assertions: []result.Assertion{
			{Name: "outcome", Passed: true, Detail: "expected promoted within 5m, observed promoted at 75.25s"},
		},
		Series: series,
		Wall:   107*time.Second + 250*time.Millisecond,
	}
}

// broke is a run the backend could not finish.
func broke() *result.Result {
	return &result.Result{
		Scenario: "pod-kill-on-kind", Backend: "kind", Seed: 7, Passed: false,
		Requests: result.Requests{Total: 120, Stable: result.Counts{Total: 120}},
		Events: []result.Event{
			{AtSeconds: 0, Type: result.ReleaseStarted, Image: "canarylab/demo:red"},
			{AtSeconds: 4, Type: result.FaultStarted, Fault: "pod-kill"},
		},
		Assertions: []result.Assertion{
			{Name: "outcome", Passed: false, Detail: "expected rolled-back within 1m30s, observed no outcome"},
		},
		Error: "kind: creating cluster: docker: not found (exit status 127)",
		Wall:  3*time.Minute + 2*time.Millisecond, // cluster creation took this long before it failed
	}
}

func sample() []*result.Result { return []*result.Result{rolledBack(), promoted(), broke()} }

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		var gotLine, wantLine string
		if i < len(gotLines) {
			gotLine = gotLines[i]
		}
		if i < len(wantLines) {
			wantLine = wantLines[i]
		}
		if gotLine != wantLine {
			t.Fatalf("%s differs from the golden file at line %d:\n got: %q\nwant: %q\ninspect, then run go test -update if intended", path, i+1, gotLine, wantLine)
		}
	}
	t.Fatalf("%s differs from the golden file; inspect, then run go test -update if intended", path)
}

func TestGolden(t *testing.T) {
	t.Parallel()
	results := sample()
	renders := []struct {
		golden string
		render func(io.Writer) error
	}{
		{"junit.golden", func(w io.Writer) error { return JUnit(w, "canarylab", results) }},
		{"bad-release-rolls-back.md.golden", func(w io.Writer) error { return Markdown(w, results[0]) }},
		{"canary-demo-promoted.md.golden", func(w io.Writer) error { return Markdown(w, results[1]) }},
		{"pod-kill-on-kind.md.golden", func(w io.Writer) error { return Markdown(w, results[2]) }},
		{"summary.md.golden", func(w io.Writer) error { return MarkdownSummary(w, results) }},
		{"summary.txt.golden", func(w io.Writer) error { return Summary(w, results) }},
	}
	for _, tc := range renders {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			if err := tc.render(&out); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, out.Bytes())
			// Rendering is a function of the result alone.
			var again bytes.Buffer
			if err := tc.render(&again); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), again.Bytes()) {
				t.Error("a second rendering differs from the first")
			}
		})
	}
}

func TestJSONIsTheResultJSON(t *testing.T) {
	t.Parallel()
	for _, res := range sample() {
		want, err := res.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := JSON(&got, res); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: JSON differs from Result.JSON:\n%s\nwant:\n%s", res.Scenario, got.Bytes(), want)
		}
	}
}

// parsedJUnit is what a CI system reads from the XML; declared apart from
// the writer's types so that the test does not share their mistakes.
type parsedJUnit struct {
	XMLName xml.Name `xml:"testsuites"`
	Suites  []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Time     string `xml:"time,attr"`
		Cases    []struct {
			ClassName  string `xml:"classname,attr"`
			Name       string `xml:"name,attr"`
			Time       string `xml:"time,attr"`
			Properties []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"properties>property"`
			Failure   *parsedReason `xml:"failure"`
			Error     *parsedReason `xml:"error"`
			SystemOut string        `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

type parsedReason struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func parseJUnit(t *testing.T, suite string, results []*result.Result) parsedJUnit {
	t.Helper()
	var out bytes.Buffer
	if err := JUnit(&out, suite, results); err != nil {
		t.Fatal(err)
	}
	var parsed parsedJUnit
	if err := xml.Unmarshal(out.Bytes(), &parsed); err != nil {
		t.Fatalf("the JUnit XML does not parse: %v\n%s", err, out.Bytes())
	}
	if len(parsed.Suites) != 1 {
		t.Fatalf("%d test suites, want 1:\n%s", len(parsed.Suites), out.Bytes())
	}
	return parsed
}

func TestJUnitParsesBackAndCounts(t *testing.T) {
	t.Parallel()
	allPassed := promoted()
	failedWithoutAssertion := promoted()
	failedWithoutAssertion.Scenario, failedWithoutAssertion.Passed = "failed-without-assertion", false
	tests := []struct {
		name                       string
		results                    []*result.Result
		tests, failures, errors    int
		wantFailure, wantErrorCase []string // scenarios with a <failure>, with an <error>
	}{
		{name: "no results", results: nil},
		{name: "one passing", results: []*result.Result{allPassed}, tests: 1},
		{name: "mixed", results: sample(), tests: 3, failures: 1, errors: 1,
			wantFailure: []string{"bad-release-rolls-back"}, wantErrorCase: []string{"pod-kill-on-kind"}},
		{name: "not passed, no failed assertion", results: []*result.Result{failedWithoutAssertion, rolledBack()}, tests: 2, failures: 2,
			wantFailure: []string{"failed-without-assertion", "bad-release-rolls-back"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			suite := parseJUnit(t, "nightly", tc.results).Suites[0]
			if suite.Name != "nightly" || suite.Tests != tc.tests || suite.Failures != tc.failures || suite.Errors != tc.errors {
				t.Fatalf("suite %q tests %d failures %d errors %d, want nightly %d %d %d",
					suite.Name, suite.Tests, suite.Failures, suite.Errors, tc.tests, tc.failures, tc.errors)
			}
			if len(suite.Cases) != len(tc.results) {
				t.Fatalf("%d test cases, want %d", len(suite.Cases), len(tc.results))
			}
			var gotFailure, gotError []string
			for i, testCase := range suite.Cases {
				res := tc.results[i]
				if testCase.Name != res.Scenario || testCase.ClassName != "canarylab."+res.Backend {
					t.Errorf("case %d is %s.%s, want canarylab.%s.%s", i, testCase.ClassName, testCase.Name, res.Backend, res.Scenario)
				}
				if testCase.Failure != nil {
					gotFailure = append(gotFailure, testCase.Name)
					if testCase.Failure.Message == "" {
						t.Errorf("%s: failure without a message", testCase.Name)
					}
				}
				if testCase.Error != nil {
					gotError = append(gotError, testCase.Name)
				}
			}
			if !slices.Equal(gotFailure, tc.wantFailure) || !slices.Equal(gotError, tc.wantErrorCase) {
				t.Errorf("failures %q errors %q, want %q %q", gotFailure, gotError, tc.wantFailure, tc.wantErrorCase)
			}
		})
	}
}

func TestJUnitCaseContents(t *testing.T) {
	t.Parallel()
	suite := parseJUnit(t, "canarylab", sample()).Suites[0]
	rolledBackCase, brokeCase := suite.Cases[0], suite.Cases[2]

	// The failure names each failed assertion with its detail, and only those.
	if got, want := rolledBackCase.Failure.Message, "maxFailedRequests: expected at most 2%, observed 96 of 2700 (3.56%)"; got != want {
		t.Errorf("failure message %q, want %q", got, want)
	}
	// The timeline, one event a line, survives escaping (the abort message has quotes and >).
	for _, line := range []string{
		"  20.5s MeasurementTaken analysisRun=demo-6c9f5d-2-1 metric=success-rate phase=Failed value=[0.51]",
		`  30.5s RolloutAborted Metric "success-rate" assessed Failed due to failed (2) > failureLimit (1)`,
		"  60.5s CanaryScaledDown",
	} {
		if !slices.Contains(strings.Split(rolledBackCase.SystemOut, "\n"), line) {
			t.Errorf("system-out lacks the line %q:\n%s", line, rolledBackCase.SystemOut)
		}
	}
	if brokeCase.Error.Message != broke().Error || !strings.Contains(brokeCase.Error.Text, "outcome: expected rolled-back") {
		t.Errorf("error %+v should carry the run's error and what failed before it", brokeCase.Error)
	}
}

// A case's time is the wall seconds the run took (Result.Wall), the suite's
// their sum; the run's own (virtual) times are properties.
func TestJUnitTimeIsWallSeconds(t *testing.T) {
	t.Parallel()
	results := sample()
	results[0].Wall = 437 * time.Millisecond
	results[1].Wall = 2*time.Minute + 3*time.Second
	results[2].Wall = 0 // made by hand: never timed
	suite := parseJUnit(t, "canarylab", results).Suites[0]
	for i, want := range []float64{0.437, 123, 0} {
		got, err := strconv.ParseFloat(suite.Cases[i].Time, 64)
		if err != nil || math.Abs(got-want) > 0.0005 {
			t.Errorf("case %s: time %q, want %g wall seconds", suite.Cases[i].Name, suite.Cases[i].Time, want)
		}
	}
	if got, err := strconv.ParseFloat(suite.Time, 64); err != nil || math.Abs(got-123.437) > 0.0005 {
		t.Errorf("suite time %q, want the cases' sum 123.437", suite.Time)
	}
	// The outcome, the last event or the series, whichever is latest, in the
	// run's own seconds.
	for i, want := range []map[string]string{
		{"canarylab.outcome": "rolled-back", "canarylab.outcomeAtSeconds": "30.500", "canarylab.reason": "analysis: metric success-rate Failed", "canarylab.runSeconds": "60.500", "canarylab.seed": "7"},
		{"canarylab.outcome": "promoted", "canarylab.outcomeAtSeconds": "75.250", "canarylab.runSeconds": "107.000", "canarylab.seed": "7"},
		{"canarylab.runSeconds": "4.000", "canarylab.seed": "7"},
	} {
		got := map[string]string{}
		for _, property := range suite.Cases[i].Properties {
			got[property.Name] = property.Value
		}
		if !maps.Equal(got, want) {
			t.Errorf("case %s: properties %v, want %v", suite.Cases[i].Name, got, want)
		}
	}
	// Wall time is beside the result, never in its JSON.
	timed, err := results[1].JSON()
	if err != nil {
		t.Fatal(err)
	}
	untimed, err := promoted().JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(timed, untimed) {
		t.Errorf("the Result JSON changes with the wall time:\n%s\nwant:\n%s", timed, untimed)
	}
}

// Messages come from controllers, metrics and users: whatever they hold must
// reach the CI system unchanged, and the XML must stay well-formed.
func TestJUnitEscapesMessages(t *testing.T) {
	t.Parallel()
	nasty := "<b>&amp; \"quoted\" 'single' ]]> </testcase>\nsecond line\ttab"
	res := rolledBack()
	res.Scenario = `scenario <&">`
	res.Backend = `back"end`
	res.Assertions[1].Detail = nasty
	res.Events = append(res.Events, result.Event{AtSeconds: 61, Type: result.ActionApplied, Action: "abort", Message: nasty})
	errored := broke()
	errored.Error = nasty + " \x1b[31m"

	suite := parseJUnit(t, `suite <&">`, []*result.Result{res, errored}).Suites[0]
	if suite.Name != `suite <&">` {
		t.Errorf("suite name %q", suite.Name)
	}
	testCase := suite.Cases[0]
	if testCase.Name != res.Scenario || testCase.ClassName != `canarylab.back"end` {
		t.Errorf("case %q class %q", testCase.Name, testCase.ClassName)
	}
	if want := "maxFailedRequests: " + nasty; testCase.Failure.Message != want || testCase.Failure.Text != want {
		t.Errorf("failure came back as message %q text %q, want %q", testCase.Failure.Message, testCase.Failure.Text, want)
	}
	if !strings.Contains(testCase.SystemOut, "  61.0s ActionApplied action=abort "+nasty+"\n") {
		t.Errorf("system-out %q lacks the event message", testCase.SystemOut)
	}
	// An escape sequence is no XML character: it is replaced, not written raw.
	if want := nasty + " \uFFFD[31m"; suite.Cases[1].Error.Message != want {
		t.Errorf("error came back as %q, want %q", suite.Cases[1].Error.Message, want)
	}
}

func TestMarkdownEscapesCells(t *testing.T) {
	t.Parallel()
	res := rolledBack()
	res.Assertions[1].Detail = "a | b\nc <none> & d"
	res.Events[9].Message = `pipe | and \| backslash`
	var page bytes.Buffer
	if err := Markdown(&page, res); err != nil {
		t.Fatal(err)
	}
	// Every row of a table has as many unescaped pipes as its header.
	header := -1
	for _, line := range strings.Split(page.String(), "\n") {
		if !strings.HasPrefix(line, "|") {
			header = -1
			continue
		}
		pipes := 0
		for i := 0; i < len(line); i++ {
			switch line[i] {
			case '\\':
				i++ // skip the escaped character
			case '|':
				pipes++
			}
		}
		if header < 0 {
			header = pipes
		} else if pipes != header {
			t.Errorf("row has %d unescaped pipes, its header %d: %q", pipes, header, line)
		}
	}
	if want := `| maxFailedRequests | ❌ failed | a \| b c &lt;none&gt; &amp; d |`; !strings.Contains(page.String(), want) {
		t.Errorf("markdown lacks %q:\n%s", want, page.String())
	}
}

func TestSummaryLastLine(t *testing.T) {
	t.Parallel()
	failing := rolledBack()
	tests := []struct {
		name    string
		results []*result.Result
		want    string
	}{
		{"none", nil, "0 passed, 0 failed"},
		{"all passed", []*result.Result{promoted(), promoted()}, "2 passed, 0 failed"},
		{"one failed", []*result.Result{promoted(), failing}, "1 passed, 1 failed"},
		{"one could not run", sample(), "1 passed, 1 failed, 1 could not run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			if err := Summary(&out, tc.results); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != len(tc.results)+2 {
				t.Fatalf("%d lines, want header, %d rows and the counts:\n%s", len(lines), len(tc.results), out.String())
			}
			if got := lines[len(lines)-1]; got != tc.want {
				t.Errorf("last line %q, want %q", got, tc.want)
			}
			// Fixed width: every column starts at the same offset in every row.
			resultColumn := strings.Index(lines[0], "RESULT")
			for _, row := range lines[1 : len(lines)-1] {
				if row[resultColumn-2:resultColumn] != "  " || row[resultColumn] == ' ' {
					t.Errorf("row %q is not aligned with the header %q", row, lines[0])
				}
			}
		})
	}
}

func TestWriteDirWritesItsFilesAndKeepsOthers(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "reports", "nightly") // created by WriteDir
	if _, err := WriteDir(dir, nil); err != nil {
		t.Fatal(err)
	}
	unrelated := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(unrelated, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	longAgo := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(unrelated, longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "canary-demo-promoted.json")
	if err := os.WriteFile(stale, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}

	results := sample()
	var want []string
	for _, name := range []string{
		"bad-release-rolls-back.json", "bad-release-rolls-back.md", "bad-release-rolls-back.html",
		"canary-demo-promoted.json", "canary-demo-promoted.md", "canary-demo-promoted.html",
		"pod-kill-on-kind.json", "pod-kill-on-kind.md", "pod-kill-on-kind.html",
		"junit.xml", "summary.md", "index.html",
	} {
		want = append(want, filepath.Join(dir, name))
	}
	for run := range 2 { // the second run replaces the first's files
		written, err := WriteDir(dir, results)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(written, want) {
			t.Fatalf("run %d wrote\n%q\nwant\n%q", run, written, want)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, entry := range entries {
			names = append(names, entry.Name())
		}
		wantNames := []string{"notes.txt"}
		for _, path := range want {
			wantNames = append(wantNames, filepath.Base(path))
		}
		slices.Sort(wantNames)
		if !slices.Equal(names, wantNames) {
			t.Fatalf("run %d: the directory holds\n%q\nwant\n%q (no temporary files)", run, names, wantNames)
		}
	}

	info, err := os.Stat(unrelated)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(unrelated); string(data) != "keep me" || !info.ModTime().Equal(longAgo) || info.Mode().Perm() != 0o600 {
		t.Errorf("the unrelated file was touched: %q, %v, %v", data, info.ModTime(), info.Mode())
	}
	wantJSON, _ := results[1].JSON()
	if data, _ := os.ReadFile(stale); !bytes.Equal(data, wantJSON) {
		t.Errorf("own report not replaced: %s", data)
	}
	var wantSummary bytes.Buffer
	if err := MarkdownSummary(&wantSummary, results); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "summary.md")); !bytes.Equal(data, wantSummary.Bytes()) {
		t.Errorf("summary.md is not the Markdown summary:\n%s", data)
	}
	if info, err := os.Stat(filepath.Join(dir, "junit.xml")); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("junit.xml: %v, %v; want readable by all (0644)", info, err)
	}
}

// A renderer that fails leaves every report as it was, not half written.
func TestWriteDirKeepsOldReportsWhenRenderingFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := filepath.Join(dir, "canary-demo-promoted.json")
	if err := os.WriteFile(old, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := errors.New("chart too wide")
	perResult := []resultFile{
		{"JSON", ".json", JSON},
		{"broken", ".broken", func(w io.Writer, res *result.Result) error {
			io.WriteString(w, "half a rep")
			return broken
		}},
	}
	written, err := writeDir(dir, []*result.Result{promoted()}, perResult, runFiles)
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), "canary-demo-promoted.broken") {
		t.Fatalf("error %v, want the renderer's, naming the file", err)
	}
	if len(written) != 0 {
		t.Errorf("wrote %q despite the failure", written)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "canary-demo-promoted.json" {
		t.Errorf("the directory holds %v, want only the old report", entries)
	}
	if data, _ := os.ReadFile(old); string(data) != "old" {
		t.Errorf("the old report became %q", data)
	}
}

func TestWriteDirRefusesNamesThatCollideOrEscape(t *testing.T) {
	t.Parallel()
	named := func(names ...string) []*result.Result {
		var results []*result.Result
		for _, name := range names {
			res := promoted()
			res.Scenario = name
			results = append(results, res)
		}
		return results
	}
	tests := []struct {
		name    string
		results []*result.Result
		want    []string // in the error
	}{
		{"twice the same scenario", named("a", "b", "a"), []string{`"a"`, "a.json"}},
		{"the summary's name", named("summary"), []string{"summary.md"}},
		{"the index's name", named("index"), []string{"index.html"}},
		{"a parent directory", named("../escape"), []string{`"../escape"`}},
		{"a subdirectory", named("sub/dir"), []string{`"sub/dir"`}},
		{"a hidden file", named(".hidden"), []string{`".hidden"`}},
		{"no name", named(""), []string{"no scenario name"}},
		{"a nil result", []*result.Result{promoted(), nil}, []string{"result 1 is nil"}},
		{"all problems at once", named("summary", "../x"), []string{"summary.md", `"../x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			dir := filepath.Join(parent, "reports")
			written, err := WriteDir(dir, tc.results)
			if err == nil {
				t.Fatalf("wrote %q, want an error", written)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("wrote %v despite the error", entries)
			}
		})
	}
}
