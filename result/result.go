// Package result is the one result format of every backend: what happened in
// a run (outcome, requests, event timeline, per-second series) and whether the
// scenario's expectations held. Renderers read it and never know the backend.
package result

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Event types of the timeline (docs/architecture.md#result-json).
const (
	ReleaseStarted       = "ReleaseStarted"
	StepStarted          = "StepStarted"
	StepCompleted        = "StepCompleted"
	WeightChanged        = "WeightChanged"
	PauseStarted         = "PauseStarted"
	PauseEnded           = "PauseEnded"
	AnalysisRunStarted   = "AnalysisRunStarted"
	MeasurementTaken     = "MeasurementTaken"
	AnalysisRunCompleted = "AnalysisRunCompleted"
	RolloutPaused        = "RolloutPaused"
	RolloutAborted       = "RolloutAborted"
	RolloutPromoted      = "RolloutPromoted"
	RolloutDegraded      = "RolloutDegraded"
	CanaryScaledDown     = "CanaryScaledDown"
	FaultStarted         = "FaultStarted"
	FaultEnded           = "FaultEnded"
	ActionApplied        = "ActionApplied"
	CanaryPhaseChanged   = "CanaryPhaseChanged"
	CheckFailed          = "CheckFailed"
)

// Result is one run of one scenario.
type Result struct {
	Scenario   string      `json:"scenario"`
	Backend    string      `json:"backend"`
	Seed       int64       `json:"seed"`
	Passed     bool        `json:"passed"`
	Outcome    Outcome     `json:"outcome"`
	Requests   Requests    `json:"requests"`
	Events     []Event     `json:"events"`
	Assertions []Assertion `json:"assertions"`
	Series     *Series     `json:"series,omitempty"`
	// Declared lists the answers the scenario declared (spec.stubs)
	// instead of observing them: "webhook acceptance-test answers pass".
	Declared []string `json:"declared,omitempty"`
	// Error is set when the run could not complete (the backend failed or
	// the run was interrupted); the rest holds what was observed until then.
	Error string `json:"error,omitempty"`
	// Wall is how long the run took on this machine (runner.Run measures
	// it around the backend's Run). It is never part of the JSON, which on
	// the sim is the same for the same seed, byte for byte; reports that
	// time runs for CI (JUnit) read it from here.
	Wall time.Duration `json:"-"`
}

// Outcome is the rollout's final state and when it was reached.
type Outcome struct {
	Result    string  `json:"result"`
	AtSeconds float64 `json:"atSeconds"`
	// Reason says why (FindReason); the runner sets it for every backend.
	Reason *Reason `json:"reason,omitempty"`
}

// At is the outcome's time as a duration.
func (o Outcome) At() time.Duration { return FromSeconds(o.AtSeconds) }

// Requests counts user requests over the whole run: the blast radius.
type Requests struct {
	Total  int64  `json:"total"`
	Failed int64  `json:"failed"`
	Stable Counts `json:"stable"`
	Canary Counts `json:"canary"`
	// LatencyP99Ms is the 99th percentile latency of every user request of
	// the run, both versions together, in milliseconds.
	LatencyP99Ms float64 `json:"latencyP99Ms"`
}

// Counts is requests and failures of one version.
type Counts struct {
	Total  int64 `json:"total"`
	Failed int64 `json:"failed"`
}

// Event is one entry of the timeline. Fields that do not apply are omitted.
type Event struct {
	AtSeconds    float64 `json:"atSeconds"`
	Type         string  `json:"type"`
	Image        string  `json:"image,omitempty"`
	Step         *int    `json:"step,omitempty"`
	CanaryWeight *int    `json:"canaryWeight,omitempty"`
	AnalysisRun  string  `json:"analysisRun,omitempty"`
	Metric       string  `json:"metric,omitempty"`
	Phase        string  `json:"phase,omitempty"`
	Value        string  `json:"value,omitempty"`
	Fault        string  `json:"fault,omitempty"`
	Action       string  `json:"action,omitempty"`
	Message      string  `json:"message,omitempty"`
}

// At is the event's time as a duration.
func (e Event) At() time.Duration { return FromSeconds(e.AtSeconds) }

// Assertion is one checked expectation: expected against observed.
type Assertion struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// Series is what a chart needs: one value per step from the release to the
// end of the run.
type Series struct {
	StepSeconds  int           `json:"stepSeconds"`
	CanaryWeight []int         `json:"canaryWeight"`
	Requests     VersionSeries `json:"requests"`
	Failed       VersionSeries `json:"failed"`
	LatencyP99Ms VersionFloats `json:"latencyP99Ms"`
}

// VersionSeries is a per-step count for each version.
type VersionSeries struct {
	Stable []int64 `json:"stable"`
	Canary []int64 `json:"canary"`
}

// VersionFloats is a per-step value for each version.
type VersionFloats struct {
	Stable []float64 `json:"stable"`
	Canary []float64 `json:"canary"`
}

// Seconds converts a time from the release to atSeconds: millisecond
// precision, so that JSON output is stable.
func Seconds(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)) / 1000
}

// FromSeconds converts atSeconds back to a duration.
func FromSeconds(seconds float64) time.Duration {
	return time.Duration(math.Round(seconds*1000)) * time.Millisecond
}

// IntPtr returns a pointer to v, for the optional fields of Event.
func IntPtr(v int) *int { return &v }

// JSON encodes the result as indented JSON with a trailing newline.
func (r *Result) JSON() ([]byte, error) {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// FailedFraction is failed/total, 0 for no requests.
func (c Counts) FailedFraction() float64 {
	if c.Total == 0 {
		return 0
	}
	return float64(c.Failed) / float64(c.Total)
}

// MaxCanaryWeight is the highest routed canary weight in the timeline.
func (r *Result) MaxCanaryWeight() int {
	highest := 0
	for _, event := range r.Events {
		if event.Type == WeightChanged && event.CanaryWeight != nil && *event.CanaryWeight > highest {
			highest = *event.CanaryWeight
		}
	}
	return highest
}

// WeightPath is the routed canary weights in the order the timeline went
// through them, a weight repeated in a row listed once: [20 40 100 0].
func (r *Result) WeightPath() []int {
	var path []int
	for _, event := range r.Events {
		if event.Type != WeightChanged || event.CanaryWeight == nil {
			continue
		}
		if n := len(path); n == 0 || path[n-1] != *event.CanaryWeight {
			path = append(path, *event.CanaryWeight)
		}
	}
	return path
}

// WeightAfterFailure is the highest canary weight routed from the first
// failed measurement on (the weight in effect then included), the time of
// that measurement, and whether any measurement failed.
func (r *Result) WeightAfterFailure() (highest int, failedAt float64, failed bool) {
	weight := 0
	for _, event := range r.Events {
		if event.Type == WeightChanged && event.CanaryWeight != nil {
			weight = *event.CanaryWeight
		}
		if !failed && event.Type == MeasurementTaken && event.Phase == "Failed" {
			failed, failedAt, highest = true, event.AtSeconds, weight
		}
		if failed {
			highest = max(highest, weight)
		}
	}
	return highest, failedAt, failed
}

// First returns the first event of a type, and whether there was one.
func (r *Result) First(eventType string) (Event, bool) {
	for _, event := range r.Events {
		if event.Type == eventType {
			return event, true
		}
	}
	return Event{}, false
}

// Describe is the event's fields other than time and type, as the JSON
// holds them (step is the 0-based step index):
// "canaryWeight=20 step=1 metric=success-rate phase=Failed value=[0.5] message".
// Text is the same for people, with steps counted from 1.
func (e Event) Describe() string {
	return e.describe(func(step int) string { return "step=" + strconv.Itoa(step) })
}

// describe is Describe with the step written by step.
func (e Event) describe(step func(int) string) string {
	var parts []string
	if e.CanaryWeight != nil {
		parts = append(parts, "canaryWeight="+strconv.Itoa(*e.CanaryWeight))
	}
	if e.Step != nil {
		parts = append(parts, step(*e.Step))
	}
	for _, field := range []struct{ name, value string }{
		{"image", e.Image}, {"analysisRun", e.AnalysisRun}, {"metric", e.Metric}, {"phase", e.Phase},
		{"value", e.Value}, {"fault", e.Fault}, {"action", e.Action},
	} {
		if field.value != "" {
			parts = append(parts, field.name+"="+field.value)
		}
	}
	if e.Message != "" {
		parts = append(parts, e.Message)
	}
	return strings.Join(parts, " ")
}

// Text is Describe for people: the same fields, with the step counted from
// 1 as Argo Rollouts' messages count it ("step 1" for the JSON's step 0,
// which is the controller's status.currentStepIndex):
// "canaryWeight=20 step 2 metric=success-rate phase=Failed value=[0.5] message".
func (e Event) Text() string {
	return e.describe(func(step int) string { return "step " + strconv.Itoa(step+1) })
}

// FailedPercent is the failed share as a percentage with two decimals ("4.51%").
func (c Counts) FailedPercent() string {
	return strconv.FormatFloat(100*c.FailedFraction(), 'f', 2, 64) + "%"
}
