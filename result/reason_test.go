package result

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// events builds a timeline from compact words: "W20" (WeightChanged),
// "M:success-rate:Failed" (MeasurementTaken of run r1), "A:Failed"
// (AnalysisRunCompleted of run r1), "Act:abort" (ActionApplied), "Abort",
// "Degraded", "Paused:InconclusiveAnalysisRun", "Paused:CanaryPauseStep",
// "P:Failed" (CanaryPhaseChanged), "C:3/3" (CheckFailed), "Release";
// each a second after the one before.
func events(words ...string) []Event {
	var out []Event
	for i, word := range words {
		event := Event{AtSeconds: float64(i + 1)}
		kind, rest, _ := strings.Cut(word, ":")
		switch {
		case strings.HasPrefix(word, "W"):
			weight, _ := strconv.Atoi(word[1:])
			event.Type, event.CanaryWeight = WeightChanged, IntPtr(weight)
		case kind == "M":
			metric, phase, _ := strings.Cut(rest, ":")
			event.Type, event.AnalysisRun, event.Metric, event.Phase = MeasurementTaken, "r1", metric, phase
		case kind == "FM":
			metric, phase, _ := strings.Cut(rest, ":")
			event.Type, event.Metric, event.Phase = MeasurementTaken, metric, phase
		case kind == "A":
			event.Type, event.AnalysisRun, event.Phase = AnalysisRunCompleted, "r1", rest
		case kind == "Act":
			event.Type, event.Action = ActionApplied, rest
		case kind == "Paused":
			event.Type, event.Message = RolloutPaused, rest
		case kind == "P":
			event.Type, event.Phase = CanaryPhaseChanged, rest
		case kind == "C":
			event.Type, event.Value = CheckFailed, rest
		case word == "Abort":
			event.Type = RolloutAborted
		case word == "Degraded":
			event.Type = RolloutDegraded
		case word == "Release":
			event.Type = ReleaseStarted
		}
		out = append(out, event)
	}
	return out
}

func TestFindReason(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, outcome string
		timeline      []Event
		want          string // Reason.String(), "" for nil
	}{
		{"the metric that failed last decides", "rolled-back",
			events("Release", "W20", "M:latency:Successful", "M:success-rate:Error", "M:success-rate:Failed", "M:latency:Failed", "A:Failed", "Abort", "W0"),
			"analysis: metric latency Failed"},
		{"an Error run names the erring metric", "rolled-back",
			events("Release", "W20", "M:success-rate:Error", "M:latency:Successful", "A:Error", "Abort"),
			"analysis: metric success-rate Error"},
		{"an operator's abort", "rolled-back", events("Release", "W20", "M:success-rate:Successful", "Act:abort", "Abort", "W0"), "abort"},
		{"the progress deadline", "rolled-back", events("Release", "Degraded", "Abort"), "progress-deadline"},
		{"the progress deadline in the abort's message", "rolled-back",
			append(events("Release", "W20"), Event{AtSeconds: 3, Type: RolloutAborted, Message: `RolloutAborted: ReplicaSet "demo-bbb" has timed out progressing.`}),
			"progress-deadline"},
		{"a failure before the retry does not count", "rolled-back",
			events("Release", "M:success-rate:Failed", "A:Failed", "Abort", "Act:retry", "Act:abort", "Abort"), "abort"},
		{"an inconclusive analysis pauses", "paused",
			events("Release", "W20", "M:success-rate:Inconclusive", "A:Inconclusive", "Paused:InconclusiveAnalysisRun: waits"),
			"analysis: metric success-rate Inconclusive"},
		{"a pause step waits", "paused", events("Release", "W20", "Paused:CanaryPauseStep"), "pause"},
		{"the steps completed", "promoted", events("Release", "W20", "W100", "W0"), "completed"},
		{"promote-full skipped the steps", "promoted", events("Release", "W20", "Act:promote-full", "W100"), "promote-full"},
		{"degraded by the deadline", "degraded", events("Release", "Degraded"), "progress-deadline"},
		{"Flagger's checks through a metric", "rolled-back",
			events("Release", "P:Progressing", "W10", "FM:request-success-rate:Failed", "C:1/2", "FM:request-success-rate:Failed", "C:2/2", "W0", "P:Failed"),
			"analysis: metric request-success-rate Failed"},
		{"Flagger's checks through webhooks", "rolled-back", events("Release", "P:Progressing", "C:1/2", "C:2/2", "P:Failed"), "webhook"},
		{"Flagger's rollback gate", "rolled-back", events("Release", "P:Progressing", "W10", "C:1/3", "Act:abort", "P:Failed"), "abort"},
		{"Flagger's progress deadline", "rolled-back", events("Release", "P:Progressing", "P:Failed"), "progress-deadline"},
		{"Flagger waits for approval", "paused", events("Release", "P:Progressing", "P:WaitingPromotion"), "pause"},
		{"no abort in the timeline", "rolled-back", events("Release", "W20"), ""},
		{"no outcome", "", events("Release", "W20"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := &Result{Outcome: Outcome{Result: tc.outcome, AtSeconds: float64(len(tc.timeline))}, Events: tc.timeline}
			got := ""
			if reason := res.FindReason(); reason != nil {
				got = reason.String()
			}
			if got != tc.want {
				t.Errorf("reason %q, want %q", got, tc.want)
			}
		})
	}
}

// Events after the outcome do not explain it.
func TestFindReasonStopsAtTheOutcome(t *testing.T) {
	t.Parallel()
	res := &Result{Outcome: Outcome{Result: "rolled-back", AtSeconds: 3}, Events: events("Release", "Act:abort", "Abort", "M:x:Failed", "A:Failed", "Abort")}
	if reason := res.FindReason(); reason == nil || reason.Cause != CauseAbort {
		t.Errorf("reason %v, want abort", reason)
	}
}

func TestWeightPathAndWeightAfterFailure(t *testing.T) {
	t.Parallel()
	res := &Result{Events: events("Release", "W20", "W20", "M:x:Successful", "W40", "M:x:Failed", "W60", "W0")}
	if path := res.WeightPath(); !slices.Equal(path, []int{20, 40, 60, 0}) {
		t.Errorf("path %v, want [20 40 60 0]", path)
	}
	highest, at, failed := res.WeightAfterFailure()
	if !failed || highest != 60 || at != 6 {
		t.Errorf("after failure: %d at %v (failed %v), want 60 at 6", highest, at, failed)
	}
	quiet := &Result{Events: events("Release", "W20", "W100")}
	if highest, _, failed := quiet.WeightAfterFailure(); failed || highest != 0 {
		t.Errorf("no failure: %d, %v", highest, failed)
	}
}
