package reports

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/result"
)

func sample() []*result.Result {
	return []*result.Result{
		{
			Scenario: "bad-release", Backend: "sim", Seed: 1, Passed: false,
			Outcome:  result.Outcome{Result: "rolled-back", AtSeconds: 43.5},
			Requests: result.Requests{Total: 1000, Failed: 60, Stable: result.Counts{Total: 900}, Canary: result.Counts{Total: 100, Failed: 60}},
			Events: []result.Event{
				{AtSeconds: 0, Type: result.ReleaseStarted, Image: "canarylab/demo:red"},
				{AtSeconds: 3.3, Type: result.WeightChanged, CanaryWeight: result.IntPtr(20)},
				{AtSeconds: 33.4, Type: result.MeasurementTaken, AnalysisRun: "demo-1", Metric: "success-rate", Phase: "Failed", Value: "[0.5]"},
				{AtSeconds: 43.5, Type: result.RolloutAborted, Message: `aborted: <"50% & more">`},
			},
			Assertions: []result.Assertion{
				{Name: "outcome", Passed: true, Detail: "rolled-back at 43.5s"},
				{Name: "maxFailedRequests", Passed: false, Detail: "60 of 1000 failed | limit 2%"},
			},
		},
		{
			Scenario: "good-release", Backend: "sim", Seed: 1, Passed: true,
			Outcome:    result.Outcome{Result: "promoted", AtSeconds: 135.1},
			Requests:   result.Requests{Total: 8000, Stable: result.Counts{Total: 3000}, Canary: result.Counts{Total: 5000}},
			Events:     []result.Event{{AtSeconds: 135.1, Type: result.RolloutPromoted}},
			Assertions: []result.Assertion{{Name: "outcome", Passed: true, Detail: "promoted at 135.1s"}},
		},
		{Scenario: "broken", Backend: "sim", Error: "backend could not run: blueGreen", Events: []result.Event{}},
	}
}

func TestJUnitParsesBackAndCounts(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := JUnit(&out, "canarylab", sample()); err != nil {
		t.Fatal(err)
	}
	var parsed junitSuites
	if err := xml.Unmarshal(out.Bytes(), &parsed); err != nil {
		t.Fatalf("JUnit output does not parse: %v\n%s", err, out.String())
	}
	suite := parsed.Suites[0]
	if suite.Tests != 3 || suite.Failures != 1 || suite.Errors != 1 {
		t.Fatalf("tests %d failures %d errors %d, want 3 1 1", suite.Tests, suite.Failures, suite.Errors)
	}
	failure := suite.Cases[0].Failure
	if failure == nil || !strings.Contains(failure.Message, "maxFailedRequests") || strings.Contains(failure.Message, "outcome") {
		t.Fatalf("failure message %+v should list only the failed assertion", failure)
	}
	if !strings.Contains(suite.Cases[0].SystemOut, `aborted: <"50% & more">`) {
		t.Errorf("the timeline did not survive escaping: %q", suite.Cases[0].SystemOut)
	}
	if suite.Cases[1].Failure != nil || suite.Cases[1].Error != nil || suite.Cases[1].Time != "135.100" {
		t.Errorf("passing case: %+v", suite.Cases[1])
	}
}

func TestMarkdownAndSummary(t *testing.T) {
	t.Parallel()
	results := sample()
	var page bytes.Buffer
	if err := Markdown(&page, results[0]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# ❌ bad-release", "| maxFailedRequests | ❌ failed | 60 of 1000 failed \\| limit 2% |", "| canary | 100 | 60 | 60.00% |", "| 33.4s | MeasurementTaken |"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, page.String())
		}
	}
	var summary bytes.Buffer
	if err := Summary(&summary, results); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(summary.String()), "\n")
	if len(lines) != 5 || lines[4] != "1 passed, 1 failed, 1 could not run" {
		t.Fatalf("summary:\n%s", summary.String())
	}
	for i, verdict := range []string{"FAIL", "PASS", "ERROR"} {
		if !strings.Contains(lines[i+1], verdict) {
			t.Errorf("row %d lacks %s: %q", i+1, verdict, lines[i+1])
		}
	}
}

func TestWriteDirKeepsOtherFilesAndReplacesItsOwn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mine := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(mine, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "good-release.json"), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	written, err := WriteDir(dir, sample())
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 3*3+3 {
		t.Errorf("wrote %d files, want 12", len(written))
	}
	if data, _ := os.ReadFile(mine); string(data) != "keep me" {
		t.Error("an unrelated file was changed")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "good-release.json")); !bytes.Contains(data, []byte(`"promoted"`)) {
		t.Errorf("own report not replaced: %s", data)
	}
	entries, _ := os.ReadDir(dir)
	for _, entry := range entries {
		if strings.HasSuffix(entry.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", entry.Name())
		}
	}
}
