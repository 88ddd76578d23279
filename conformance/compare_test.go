package conformance

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
)

// timeline builds a result from compact events: "W25@3.3" (WeightChanged
// to 25%), "A:Failed@43.1" (AnalysisRunCompleted), "Pause@3.4",
// "Abort@43.2", "Promote@42.1", "Act:abort@40" (ActionApplied); other words are non-decisive events.
func timeline(backend, outcome string, at float64, events ...string) *result.Result {
	res := &result.Result{Scenario: "demo", Backend: backend, Outcome: result.Outcome{Result: outcome, AtSeconds: at}}
	for _, text := range events {
		name, when, _ := strings.Cut(text, "@")
		event := result.Event{AtSeconds: parseSeconds(when)}
		switch {
		case strings.HasPrefix(name, "W"):
			event.Type = result.WeightChanged
			event.CanaryWeight = result.IntPtr(atoi(name[1:]))
		case strings.HasPrefix(name, "A:"):
			event.Type, event.Phase = result.AnalysisRunCompleted, name[2:]
		case strings.HasPrefix(name, "Act:"):
			event.Type, event.Action = result.ActionApplied, name[4:]
		case name == "Pause":
			event.Type = result.RolloutPaused
		case name == "Abort":
			event.Type = result.RolloutAborted
		case name == "Promote":
			event.Type = result.RolloutPromoted
		default:
			event.Type = name
		}
		res.Events = append(res.Events, event)
	}
	return res
}

func parseSeconds(text string) float64 {
	d, err := time.ParseDuration(text + "s")
	if err != nil {
		panic(err)
	}
	return d.Seconds()
}

func atoi(text string) int {
	n := 0
	for _, r := range text {
		n = n*10 + int(r-'0')
	}
	return n
}

func moment(t *testing.T, row Row, name string) Moment {
	t.Helper()
	for _, m := range row.Moments {
		if m.Name() == name {
			return m
		}
	}
	t.Fatalf("no moment %q among %v", name, names(row))
	return Moment{}
}

func names(row Row) []string {
	var out []string
	for _, m := range row.Moments {
		out = append(out, m.Name())
	}
	return out
}

// The timeline of a promoted canary, and the same a little later each
// step on a real controller.
var (
	simPromoted   = timeline("sim", "promoted", 42.101, "ReleaseStarted@0", "W25@3.3", "StepCompleted@3.3", "W50@16.1", "W75@29.1", "W100@42.101", "Promote@42.101", "W0@42.201", "CanaryScaledDown@47")
	localPromoted = timeline("local", "promoted", 43.6, "ReleaseStarted@0", "W25@3.9", "W50@17.0", "W75@30.4", "W100@43.6", "Promote@43.6", "W0@43.65", "CanaryScaledDown@49")
)

func TestAgreementWithinTolerance(t *testing.T) {
	t.Parallel()
	row := Compare(simPromoted, localPromoted)
	if !row.Agrees {
		t.Fatalf("rows within tolerance disagree:\n%s", Table([]Row{row}))
	}
	want := []string{"outcome", "WeightChanged 1", "WeightChanged 2", "WeightChanged 3", "WeightChanged 4", "RolloutPromoted 1", "WeightChanged 5"}
	if got := names(row); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("moments %v, want %v (outcome first, then decisive events in timeline order)", got, want)
	}
	if row.SimOutcome != "promoted" || row.OtherOutcome != "promoted" || row.OtherBackend != "local" {
		t.Errorf("row outcomes/backends: %+v", row)
	}
	if d, ok := moment(t, row, "WeightChanged 4").Difference(); !ok || d != 1499*time.Millisecond {
		t.Errorf("difference of WeightChanged 4 = %v, %v; want +1.499s", d, ok)
	}
}

func TestSimAgainstItselfAgrees(t *testing.T) {
	t.Parallel()
	if row := Compare(simPromoted, simPromoted); !row.Agrees {
		t.Fatalf("a result disagrees with itself:\n%s", Table([]Row{row}))
	}
}

func TestOutcomeMismatchDisagrees(t *testing.T) {
	t.Parallel()
	aborted := timeline("local", "rolled-back", 42.2, "W25@3.9", "W50@17.0", "W75@30.4", "A:Failed@42.1", "Abort@42.2", "W0@42.3")
	row := Compare(simPromoted, aborted)
	if row.Agrees {
		t.Fatal("promoted against rolled-back agrees")
	}
	outcome := moment(t, row, "outcome")
	if outcome.Agrees || !strings.Contains(outcome.Reason, "promoted") || !strings.Contains(outcome.Reason, "rolled-back") {
		t.Errorf("outcome moment: agrees=%v reason %q; want a disagreement naming both outcomes", outcome.Agrees, outcome.Reason)
	}
	// Same time, different outcome: the time alone would agree.
	if d, _ := outcome.Difference(); d.Abs() > outcome.Tolerance() {
		t.Fatalf("test premise: outcome times should be within tolerance, differ by %v", d)
	}
	for _, name := range []string{"RolloutPromoted 1", "AnalysisRunCompleted 1", "RolloutAborted 1"} {
		if m := moment(t, row, name); m.Agrees || !strings.Contains(m.Reason, "missing on") {
			t.Errorf("%s: agrees=%v reason %q; want missing on one side", name, m.Agrees, m.Reason)
		}
	}
}

func TestTimeBeyondToleranceDisagrees(t *testing.T) {
	t.Parallel()
	late := timeline("local", "promoted", 42.5, "W25@6.0", "W50@16.1", "W75@29.1", "W100@42.5", "Promote@42.5", "W0@42.6")
	row := Compare(simPromoted, late)
	if row.Agrees {
		t.Fatal("a weight 2.7s late agrees")
	}
	first := moment(t, row, "WeightChanged 1")
	if first.Agrees || !strings.Contains(first.Reason, "2.7s") || !strings.Contains(first.Reason, "2s") {
		t.Errorf("WeightChanged 1: agrees=%v reason %q; want apart by 2.7s, more than 2s", first.Agrees, first.Reason)
	}
	for _, m := range row.Moments {
		if m.Name() != "WeightChanged 1" && !m.Agrees {
			t.Errorf("%s disagrees: %s", m.Name(), m.Reason)
		}
	}
}

func TestMissingEventDisagrees(t *testing.T) {
	t.Parallel()
	// The real controller never went through 75%.
	skipped := timeline("local", "promoted", 42.3, "W25@3.9", "W50@17.0", "W100@42.3", "Promote@42.3", "W0@42.4")
	row := Compare(simPromoted, skipped)
	if row.Agrees {
		t.Fatal("a missing weight step agrees")
	}
	// Paired by occurrence: the 3rd weight is 75% on the sim and 100% on local,
	// the 4th (100%) and 5th (0%) have no counterpart shifted in.
	third := moment(t, row, "WeightChanged 3")
	if third.Agrees || third.SimDetail != "75%" || third.OtherDetail != "100%" {
		t.Errorf("WeightChanged 3: %+v; want 75%% against 100%%", third)
	}
	fifth := moment(t, row, "WeightChanged 5")
	if fifth.Agrees || !fifth.Sim || fifth.Other || fifth.Reason != "missing on local" {
		t.Errorf("WeightChanged 5: %+v; want missing on local", fifth)
	}
	text := Table([]Row{row})
	if !strings.Contains(text, "missing on local") || !strings.Contains(text, "  WeightChanged 5") {
		t.Errorf("the table does not show the missing event:\n%s", text)
	}
}

func TestMissingOnTheSimDisagrees(t *testing.T) {
	t.Parallel()
	paused := timeline("local", "paused", 43.2, "W25@3.3", "A:Inconclusive@43.1", "Pause@43.2")
	sim := timeline("sim", "paused", 43.121, "W25@3.3", "Pause@43.121")
	row := Compare(sim, paused)
	m := moment(t, row, "AnalysisRunCompleted 1")
	if row.Agrees || m.Agrees || m.Sim || m.Reason != "missing on sim" {
		t.Fatalf("an analysis only local recorded: row agrees=%v, moment %+v", row.Agrees, m)
	}
}

func TestAnalysisPhaseMustMatch(t *testing.T) {
	t.Parallel()
	sim := timeline("sim", "rolled-back", 43.5, "W25@3.3", "A:Failed@43.4", "Abort@43.5", "W0@43.6")
	local := timeline("local", "rolled-back", 43.8, "W25@3.5", "A:Error@43.7", "Abort@43.8", "W0@43.9")
	row := Compare(sim, local)
	if m := moment(t, row, "AnalysisRunCompleted 1"); row.Agrees || m.Agrees || !strings.Contains(m.Reason, "Failed") || !strings.Contains(m.Reason, "Error") {
		t.Fatalf("Failed against Error: row agrees=%v, moment %+v", row.Agrees, m)
	}
}

// The same outcome at the same time for another reason disagrees: an
// operator's abort is no analysis that caught the release.
func TestOutcomeReasonMustMatch(t *testing.T) {
	t.Parallel()
	sim := timeline("sim", "rolled-back", 43.5, "W25@3.3", "A:Failed@43.4", "Abort@43.5", "W0@43.6")
	local := timeline("local", "rolled-back", 43.6, "W25@3.5", "Act:abort@43.4", "Abort@43.6", "W0@43.9")
	row := Compare(sim, local)
	m := moment(t, row, Outcome)
	if row.Agrees || m.Agrees || !strings.Contains(m.Reason, "rolled-back (analysis: Failed) on sim") || !strings.Contains(m.Reason, "rolled-back (abort) on local") {
		t.Fatalf("analysis against abort: row agrees=%v, outcome %+v", row.Agrees, m)
	}
}

// The tolerance is max(2s, 5% of the later time): 2s up to 40s, then 5%.
func TestToleranceBoundary(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		sim, oth float64
		agrees   bool
	}{
		{"2s apart early agrees", 10, 12, true},
		{"2.001s apart early disagrees", 10, 12.001, false},
		{"2s apart backwards agrees", 12, 10, true},
		{"at 40s 5% is exactly 2s", 38, 40, true},
		{"at 40s 2.001s disagrees", 37.999, 40, false},
		{"at 50s 2.5s agrees though above 2s", 47.5, 50, true},
		{"at 50s the later time counts, either side", 50, 47.5, true},
		{"at 50s 2.501s disagrees", 47.499, 50, false},
		{"at 100s 5s agrees", 95, 100, true},
		{"at 100s 5.001s disagrees", 94.999, 100, false},
		{"the later time sets it: 105.001s allows 5.25s", 100, 105.001, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := timeline("sim", "promoted", tc.sim, "Promote@"+format(tc.sim))
			other := timeline("local", "promoted", tc.oth, "Promote@"+format(tc.oth))
			row := Compare(sim, other)
			if row.Agrees != tc.agrees {
				t.Fatalf("%gs against %gs: agrees=%v, want %v\n%s", tc.sim, tc.oth, row.Agrees, tc.agrees, Table([]Row{row}))
			}
		})
	}
	for _, tc := range []struct {
		a, b time.Duration
		want time.Duration
	}{
		{0, 0, 2 * time.Second},
		{39 * time.Second, 10 * time.Second, 2 * time.Second},
		{10 * time.Second, 60 * time.Second, 3 * time.Second},
		{90 * time.Second, 89 * time.Second, 4500 * time.Millisecond},
	} {
		if got := Tolerance(tc.a, tc.b); got != tc.want {
			t.Errorf("Tolerance(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func format(seconds float64) string { return strconv.FormatFloat(seconds, 'f', -1, 64) }

func TestRunErrorDisagrees(t *testing.T) {
	t.Parallel()
	failed := *localPromoted
	failed.Error = "kube-apiserver did not start"
	row := Compare(simPromoted, &failed)
	if row.Agrees {
		t.Fatal("a run error agrees")
	}
	if text := Table([]Row{row}); !strings.Contains(text, "kube-apiserver did not start") {
		t.Errorf("the table does not show the error:\n%s", text)
	}
	if row := Compare(simPromoted, nil); row.Agrees || row.Moments[0].Other || row.Scenario != "demo" {
		t.Errorf("no result at all: %+v", row)
	}
}

func TestTableIsAligned(t *testing.T) {
	t.Parallel()
	late := timeline("local", "rolled-back", 42.5, "W25@6.0", "Abort@42.5")
	text := Table([]Row{Compare(simPromoted, localPromoted), Compare(simPromoted, late)})
	lines := strings.Split(strings.TrimSpace(text), "\n")
	header := lines[0]
	for _, column := range []string{"SCENARIO / MOMENT", "SIM", "LOCAL", "DIFF", "TOLERANCE", "AGREES"} {
		if !strings.Contains(header, column) {
			t.Fatalf("header %q lacks %s", header, column)
		}
	}
	localColumn := strings.Index(header, "LOCAL")
	for _, line := range lines[1:] {
		if strings.HasPrefix(line, "  WeightChanged 1") && !strings.HasPrefix(line[localColumn:], "25% at ") {
			t.Errorf("the LOCAL column is not aligned with its header:\n%s\n%s", header, line)
		}
	}
	for _, want := range []string{"demo", "  outcome", "promoted (completed) at 42.101s", "+1.499s", "NO: promoted (completed) on sim, rolled-back on local", "yes", "1 of 2 scenarios agree"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	skipped := timeline("local", "promoted", 42.3, "W25@3.9", "W50@17.0", "W100@42.3", "Promote@42.3", "W0@42.4")
	text := Markdown([]Row{Compare(simPromoted, localPromoted), Compare(simPromoted, skipped)})
	for _, want := range []string{
		"| Scenario | sim | local | Decisive moments agreeing | Largest difference | Agrees |",
		"|---|",
		"| `demo` | promoted at 42.101s | promoted at 43.6s | 7 of 7 | +1.499s (outcome) | yes |",
		"| **no** |",
		"Disagreements:",
		"- `demo` WeightChanged 5: missing on local",
		"1 of 2 scenarios agree",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("markdown lacks %q:\n%s", want, text)
		}
	}
}

func TestSameBackendTwiceKeepsColumnsApart(t *testing.T) {
	t.Parallel()
	text := Table([]Row{Compare(simPromoted, simPromoted)})
	if !strings.Contains(text, "SIM (AGAIN)") {
		t.Errorf("sim against sim: columns not told apart:\n%s", text)
	}
}

// flaggerTimeline builds a Flagger result: "P:Progressing@4.8"
// (CanaryPhaseChanged), "W25@14.8", "CheckFailed@24.8".
func flaggerTimeline(backend, outcome string, at float64, events ...string) *result.Result {
	var plain []string
	var phases []result.Event
	for _, text := range events {
		name, when, _ := strings.Cut(text, "@")
		if phase, ok := strings.CutPrefix(name, "P:"); ok {
			phases = append(phases, result.Event{AtSeconds: parseSeconds(when), Type: result.CanaryPhaseChanged, Phase: phase})
			continue
		}
		plain = append(plain, text)
	}
	res := timeline(backend, outcome, at, plain...)
	res.Events = append(res.Events, phases...)
	return res
}

// The sim's and the real Flagger's good release, measured with a 10s
// interval: every moment of the real one is ~4.5s later (its ticks fall
// elsewhere relative to the release).
var (
	simFlagger   = flaggerTimeline("sim", "promoted", 54.829, "P:Progressing@4.829", "W25@14.829", "W50@24.829", "P:Promoting@34.829", "W0@44.829", "P:Finalising@44.829", "P:Succeeded@54.829")
	localFlagger = flaggerTimeline("local", "promoted", 59.303, "P:Progressing@9.322", "W25@19.257", "W50@29.273", "P:Promoting@39.289", "W0@49.276", "P:Finalising@49.285", "P:Succeeded@59.303", "CheckFailed@30")
)

// Flagger results are compared by their phases and weights within one
// analysis interval; failed checks and measurements are not moments.
func TestCompareFlaggerWithinOneInterval(t *testing.T) {
	t.Parallel()
	row := CompareWith(Rule{Interval: 10 * time.Second}, simFlagger, localFlagger)
	if !row.Agrees || row.Interval != 10*time.Second {
		t.Fatalf("row disagrees or has no interval:\n%s", Table([]Row{row}))
	}
	want := []string{"outcome", "CanaryPhaseChanged 1", "WeightChanged 1", "WeightChanged 2", "CanaryPhaseChanged 2", "WeightChanged 3", "CanaryPhaseChanged 3", "CanaryPhaseChanged 4"}
	if strings.Join(names(row), ",") != strings.Join(want, ",") {
		t.Errorf("moments %v, want %v", names(row), want)
	}
	if m := moment(t, row, "CanaryPhaseChanged 2"); m.SimDetail != "Promoting" || m.Tolerance() != 10*time.Second {
		t.Errorf("moment %+v, tolerance %s", m, m.Tolerance())
	}
	if !strings.Contains(Summary([]Row{row}), "Flagger: one analysis interval") {
		t.Errorf("summary %q does not state Flagger's rule", Summary([]Row{row}))
	}
	// Without the scenario, Flagger results get Flagger's least interval.
	if auto := Compare(simFlagger, localFlagger); auto.Interval != MinFlaggerInterval || !auto.Agrees {
		t.Errorf("Compare: interval %s, agrees %v", auto.Interval, auto.Agrees)
	}
}

// More than an interval apart, another phase, or a missing weight step
// disagree.
func TestCompareFlaggerDisagreements(t *testing.T) {
	t.Parallel()
	rule := Rule{Interval: 10 * time.Second}
	for name, tc := range map[string]struct {
		other  *result.Result
		moment string
		reason string
	}{
		"a tick late": {flaggerTimeline("local", "promoted", 65.9, "P:Progressing@15.9", "W25@25.9", "W50@35.9", "P:Promoting@45.9", "W0@55.9", "P:Finalising@55.9", "P:Succeeded@65.9"),
			"outcome", "apart by 11.071s, more than 10s"},
		"waits for promotion": {flaggerTimeline("local", "promoted", 59.3, "P:Progressing@9.3", "W25@19.3", "W50@29.3", "P:WaitingPromotion@39.3", "W0@49.3", "P:Finalising@49.3", "P:Succeeded@59.3"),
			"CanaryPhaseChanged 2", "Promoting on sim, WaitingPromotion on local"},
		"skips a step": {flaggerTimeline("local", "promoted", 59.3, "P:Progressing@9.3", "W50@19.3", "P:Promoting@39.3", "W0@49.3", "P:Finalising@49.3", "P:Succeeded@59.3"),
			"WeightChanged 1", "25% on sim, 50% on local"},
	} {
		row := CompareWith(rule, simFlagger, tc.other)
		if row.Agrees {
			t.Errorf("%s: agrees", name)
			continue
		}
		if m := moment(t, row, tc.moment); m.Agrees || m.Reason != tc.reason {
			t.Errorf("%s: %s reason %q, want %q", name, tc.moment, m.Reason, tc.reason)
		}
	}
}

func TestRuleForReadsTheCanaryInterval(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]time.Duration{
		"flagger-good-release-promoted.yaml":                       10 * time.Second,
		"../scenarios/flagger-latency-regression-rolled-back.yaml": 30 * time.Second,
		"weighted-steps-promote.yaml":                              0,
	} {
		sc, err := scenario.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		rule, err := RuleFor(sc)
		if err != nil || rule.Interval != want {
			t.Errorf("%s: interval %s (%v), want %s", path, rule.Interval, err, want)
		}
	}
}
