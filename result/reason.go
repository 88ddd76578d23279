package result

import (
	"slices"
	"strconv"
	"strings"
)

// Causes of an outcome (Reason.Cause).
const (
	// CauseAnalysis: an analysis decided, through the metric named in the
	// reason (Argo Rollouts: an AnalysisRun ended Failed, Error or
	// Inconclusive; Flagger: the failed checks reached the threshold).
	CauseAnalysis = "analysis"
	// CauseWebhook: Flagger's failed checks reached the threshold through
	// webhooks, with no metric failing.
	CauseWebhook = "webhook"
	// CauseProgressDeadline: the canary's pods were not ready within the
	// progress deadline.
	CauseProgressDeadline = "progress-deadline"
	// CauseAbort: an operator's abort.
	CauseAbort = "abort"
	// CausePause: waiting for a person at a pause step or approval gate.
	CausePause = "pause"
	// CauseCompleted: every step ran, or the analysis reached its end.
	CauseCompleted = "completed"
	// CausePromoteFull: an operator's promote-full skipped the steps left.
	CausePromoteFull = "promote-full"
)

// Causes lists every cause, in contract order.
var Causes = []string{CauseAnalysis, CauseWebhook, CauseProgressDeadline, CauseAbort, CausePause, CauseCompleted, CausePromoteFull}

// Analysis phases a reason can name (Reason.Phase): those that end an
// analysis without success.
var AnalysisPhases = []string{"Failed", "Error", "Inconclusive"}

// Reason says why the run ended in its outcome. It is read from the
// timeline, by one rule for every backend, so that the real controller's
// run and the sim's can be compared on it.
type Reason struct {
	Cause string `json:"cause"`
	// AnalysisRun is the Argo Rollouts AnalysisRun that decided.
	AnalysisRun string `json:"analysisRun,omitempty"`
	// Metric and Phase name the metric that decided and how it ended:
	// Failed, Error or Inconclusive.
	Metric string `json:"metric,omitempty"`
	Phase  string `json:"phase,omitempty"`
}

// String is "analysis: metric success-rate Failed", "analysis: Failed",
// "abort" and the like.
func (r Reason) String() string {
	var details []string
	if r.Metric != "" {
		details = append(details, "metric "+r.Metric)
	}
	if r.Phase != "" {
		details = append(details, r.Phase)
	}
	if len(details) == 0 {
		return r.Cause
	}
	return r.Cause + ": " + strings.Join(details, " ")
}

// FindReason reads why the run ended in its outcome from its timeline, or
// nil when the timeline does not say (no outcome, or no event explaining
// it). Only the current attempt counts: events after the last release or
// retry.
func (r *Result) FindReason() *Reason {
	end := r.Outcome.AtSeconds
	events := r.attempt(end)
	flagger := slices.ContainsFunc(events, func(e Event) bool { return e.Type == CanaryPhaseChanged })
	switch r.Outcome.Result {
	case "rolled-back":
		if flagger {
			return flaggerFailure(events)
		}
		return rolloutAbort(events)
	case "paused":
		return pausedReason(events)
	case "degraded":
		if slices.ContainsFunc(events, func(e Event) bool { return e.Type == RolloutDegraded }) {
			return &Reason{Cause: CauseProgressDeadline}
		}
	case "promoted":
		if slices.ContainsFunc(events, func(e Event) bool { return e.Type == ActionApplied && e.Action == "promote-full" }) {
			return &Reason{Cause: CausePromoteFull}
		}
		return &Reason{Cause: CauseCompleted}
	}
	return nil
}

// attempt is the timeline up to the outcome's time, from the last event
// that starts the release over: the release itself, a further release or
// a retry.
func (r *Result) attempt(end float64) []Event {
	start, stop := 0, 0
	for i, event := range r.Events {
		if event.AtSeconds > end {
			break
		}
		stop = i + 1
		if event.Type == ReleaseStarted || event.Type == ActionApplied && (event.Action == "retry" || event.Action == "release") {
			start = i
		}
	}
	return r.Events[start:stop]
}

// rolloutAbort explains Argo Rollouts' last abort: the progress deadline
// when the abort says so (AR rollout/sync.go evaluateProgressDeadlineAbort
// aborts with conditions.ReplicaSetTimeOutMessage, "... has timed out
// progressing.", and never sets the ProgressDeadlineExceeded condition
// first), else the nearest cause before it: an operator's abort, an
// AnalysisRun that ended Failed or Error (AR rollout/analysis.go: either
// aborts), or a recorded deadline.
func rolloutAbort(events []Event) *Reason {
	last := lastIndex(events, func(e Event) bool { return e.Type == RolloutAborted })
	if last < 0 {
		return nil
	}
	if strings.Contains(events[last].Message, "has timed out progressing") {
		return &Reason{Cause: CauseProgressDeadline}
	}
	for i := last; i >= 0; i-- {
		switch event := events[i]; {
		case event.Type == ActionApplied && event.Action == "abort":
			return &Reason{Cause: CauseAbort}
		case event.Type == AnalysisRunCompleted && (event.Phase == "Failed" || event.Phase == "Error"):
			return analysisReason(events[:i+1], event)
		case event.Type == RolloutDegraded:
			return &Reason{Cause: CauseProgressDeadline}
		}
	}
	return nil
}

// pausedReason explains a rollout waiting for a person: Argo Rollouts'
// InconclusiveAnalysisRun pause condition, or a pause step or approval
// gate.
func pausedReason(events []Event) *Reason {
	for i := len(events) - 1; i >= 0; i-- {
		event := events[i]
		if event.Type == RolloutPaused && strings.HasPrefix(event.Message, "InconclusiveAnalysisRun") {
			for j := i; j >= 0; j-- {
				if completed := events[j]; completed.Type == AnalysisRunCompleted && completed.Phase == "Inconclusive" {
					return analysisReason(events[:j+1], completed)
				}
			}
			return &Reason{Cause: CauseAnalysis, Phase: "Inconclusive"}
		}
		if event.Type == RolloutPaused || event.Type == CanaryPhaseChanged {
			return &Reason{Cause: CausePause}
		}
	}
	return nil
}

// analysisReason names the metric that ended an AnalysisRun: of the run's
// metrics whose latest measurement has the run's phase, the one measured
// last.
func analysisReason(events []Event, completed Event) *Reason {
	reason := &Reason{Cause: CauseAnalysis, AnalysisRun: completed.AnalysisRun, Phase: completed.Phase}
	latest := map[string]string{}
	var order []string
	for _, event := range events {
		if event.Type == MeasurementTaken && event.AnalysisRun == completed.AnalysisRun {
			latest[event.Metric] = event.Phase
			order = slices.DeleteFunc(order, func(name string) bool { return name == event.Metric })
			order = append(order, event.Metric)
		}
	}
	for _, name := range slices.Backward(order) {
		if latest[name] == completed.Phase {
			reason.Metric = name
			break
		}
	}
	return reason
}

// flaggerFailure explains Flagger's rollback (FL pkg/controller/
// scheduler.go advanceCanary): the failed checks reached the threshold —
// through a metric, or through webhooks when no metric failed — or the
// rollback gate opened on an operator's abort, or else the canary was not
// ready within the progress deadline.
func flaggerFailure(events []Event) *Reason {
	failedAt := lastIndex(events, func(e Event) bool {
		return e.Type == CanaryPhaseChanged && e.Phase == "Failed"
	})
	if failedAt < 0 {
		return nil
	}
	events = events[:failedAt+1]
	if thresholdReached(events) {
		for _, event := range slices.Backward(events) {
			if event.Type == MeasurementTaken && (event.Phase == "Failed" || event.Phase == "Error") {
				return &Reason{Cause: CauseAnalysis, Metric: event.Metric, Phase: event.Phase}
			}
		}
		return &Reason{Cause: CauseWebhook}
	}
	if slices.ContainsFunc(events, func(e Event) bool { return e.Type == ActionApplied && e.Action == "abort" }) {
		return &Reason{Cause: CauseAbort}
	}
	return &Reason{Cause: CauseProgressDeadline}
}

// thresholdReached is whether the last failed check counted up to the
// threshold ("3/3").
func thresholdReached(events []Event) bool {
	for _, event := range slices.Backward(events) {
		if event.Type != CheckFailed {
			continue
		}
		count, threshold, ok := strings.Cut(event.Value, "/")
		n, errN := strconv.Atoi(count)
		limit, errLimit := strconv.Atoi(threshold)
		return ok && errN == nil && errLimit == nil && n >= limit
	}
	return false
}

// lastIndex is the index of the last event that matches, or -1.
func lastIndex(events []Event, match func(Event) bool) int {
	for i, event := range slices.Backward(events) {
		if match(event) {
			return i
		}
	}
	return -1
}
