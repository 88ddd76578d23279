// Package conformance compares two backends' results of the same scenario:
// the sim against a real controller (local), or local against a full
// cluster. The scenario files beside this package are the conformance suite:
// short scenarios that run on every backend in real time within minutes.
//
// Two results agree when their outcomes match and every decisive moment
// happens on both within tolerance. The decisive moments are:
//
//   - the outcome moment (outcome.atSeconds);
//   - each WeightChanged, in order: the n-th on one backend pairs with the
//     n-th on the other, and both must set the same weight;
//   - each AnalysisRunCompleted, in order, with the same phase;
//   - each RolloutPaused, RolloutAborted and RolloutPromoted, in order.
//
// The tolerance of a pair is max(2s, 5% of the later of the two times): a
// real controller reconciles, requeues and polls on wall time, so moments
// drift by a fraction of a second per step and a little more the longer a
// rollout runs. A decisive event that one backend recorded and the other did
// not is a disagreement.
//
// Flagger scenarios follow another rule. Flagger acts only on the ticks of
// a Canary's analysis interval, whose phase relative to the release is set
// by when the controller started (detection lag 0.4 to 8.8s with 10s checks:
// docs/measurements.md#flagger-ticks-and-timing), so the same run lands up
// to one interval earlier or later on another backend. Their decisive
// moments are the outcome, each WeightChanged and each CanaryPhaseChanged
// (with the same phase), and each pair may be up to one analysis interval
// apart.
package conformance

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
)

// Outcome names the outcome moment among the decisive moments.
const Outcome = "outcome"

// DecisiveEvents are the event types whose times are compared, in the order
// moments at the same time are listed.
var DecisiveEvents = []string{
	result.WeightChanged,
	result.AnalysisRunCompleted,
	result.RolloutPaused,
	result.RolloutAborted,
	result.RolloutPromoted,
}

// FlaggerDecisiveEvents are the decisive event types of a Flagger
// scenario.
var FlaggerDecisiveEvents = []string{
	result.WeightChanged,
	result.CanaryPhaseChanged,
}

// Tolerance bounds.
const (
	// MinTolerance is the least difference always accepted.
	MinTolerance = 2 * time.Second
	// TolerancePercent of the later time is accepted when it is more.
	TolerancePercent = 5
)

// Tolerance is how far apart two times of the same decisive moment may be:
// max(2s, 5% of the later one).
func Tolerance(a, b time.Duration) time.Duration {
	return max(MinTolerance, max(a, b)*TolerancePercent/100)
}

// Row is the comparison of one scenario on two backends.
type Row struct {
	Scenario string
	// SimBackend and OtherBackend name the backends, as in their results.
	SimBackend, OtherBackend string
	// SimOutcome and OtherOutcome are the outcomes (promoted, rolled-back,
	// paused, degraded; empty when a backend produced no result).
	SimOutcome, OtherOutcome string
	// SimError and OtherError are the backends' run errors, if any.
	SimError, OtherError string
	// Moments are the outcome moment, then the decisive events paired by
	// type and occurrence, in timeline order.
	Moments []Moment
	// Interval is a Flagger scenario's analysis interval, the tolerance of
	// each of its moments; 0 for Argo Rollouts.
	Interval time.Duration
	// Agrees: same outcome, no run error, every moment within tolerance.
	Agrees bool
}

// Moment is one decisive moment on both backends.
type Moment struct {
	// Event is a decisive event type, or Outcome.
	Event string
	// Occurrence counts the event type from 1 on each backend (1 for the outcome).
	Occurrence int
	// SimDetail and OtherDetail are what the moment carried: the outcome,
	// the weight ("25%") or the analysis phase; empty for other events.
	SimDetail, OtherDetail string
	// SimAt and OtherAt are the times from the release; Sim and Other say
	// whether the backend recorded the moment at all.
	SimAt, OtherAt time.Duration
	Sim, Other     bool
	// Agrees: recorded on both, same detail, times within Tolerance.
	Agrees bool
	// Reason says why the moment disagrees; empty when it agrees.
	Reason string
	// interval, when set, is the tolerance (Flagger's analysis interval).
	interval time.Duration
}

// Name is the moment as the table shows it: "WeightChanged 2".
func (m Moment) Name() string {
	if m.Event == Outcome {
		return Outcome
	}
	return m.Event + " " + strconv.Itoa(m.Occurrence)
}

// Difference is the other backend's time minus the sim's; ok is false when
// one of them did not record the moment.
func (m Moment) Difference() (difference time.Duration, ok bool) {
	if !m.Sim || !m.Other {
		return 0, false
	}
	return m.OtherAt - m.SimAt, true
}

// Tolerance of this moment: max(2s, 5% of the later time), or for a
// Flagger scenario its analysis interval.
func (m Moment) Tolerance() time.Duration {
	if m.interval > 0 {
		return m.interval
	}
	return Tolerance(m.SimAt, m.OtherAt)
}

// Rule is how a scenario's results are compared: Argo Rollouts' (the zero
// Rule) or Flagger's, with the Canary's analysis interval.
type Rule struct {
	// Interval is the Flagger Canary's analysis interval (at least 10s).
	Interval time.Duration
}

// MinFlaggerInterval is Flagger's least analysis interval (a shorter one
// is raised to it): the tolerance of Flagger results compared without
// their scenario.
const MinFlaggerInterval = 10 * time.Second

// RuleFor is the rule of a scenario: a flagger scenario's Canary gives its
// analysis interval.
func RuleFor(sc *scenario.Scenario) (Rule, error) {
	if sc.Spec.Controller != scenario.ControllerFlagger {
		return Rule{}, nil
	}
	m, err := flagger.Decode(sc.Documents)
	if err != nil {
		return Rule{}, err
	}
	return Rule{Interval: flagger.AnalysisInterval(m.Canary.Spec.Analysis)}, nil
}

// CompareScenario is Compare with the scenario's rule (RuleFor); a
// scenario whose Canary cannot be read is compared as Compare does.
func CompareScenario(sc *scenario.Scenario, sim, other *result.Result) Row {
	rule, err := RuleFor(sc)
	if err != nil {
		return Compare(sim, other)
	}
	return CompareWith(rule, sim, other)
}

// Compare pairs the decisive moments of a scenario's result on the sim
// with those on the other backend. A nil result (the backend produced
// nothing) has no outcome and no events. Results of a Flagger Canary (with
// CanaryPhaseChanged events) are compared by Flagger's rule with its least
// interval, 10s; CompareScenario reads the Canary's own.
func Compare(sim, other *result.Result) Row {
	rule := Rule{}
	if len(decisive(orEmpty(sim), result.CanaryPhaseChanged)) > 0 || len(decisive(orEmpty(other), result.CanaryPhaseChanged)) > 0 {
		rule.Interval = MinFlaggerInterval
	}
	return CompareWith(rule, sim, other)
}

// CompareWith pairs the decisive moments of the two results by a rule.
func CompareWith(rule Rule, sim, other *result.Result) Row {
	sim, other = orEmpty(sim), orEmpty(other)
	row := Row{
		Scenario:     sim.Scenario,
		SimBackend:   sim.Backend,
		OtherBackend: other.Backend,
		SimOutcome:   sim.Outcome.Result,
		OtherOutcome: other.Outcome.Result,
		SimError:     sim.Error,
		OtherError:   other.Error,
		Interval:     rule.Interval,
	}
	if row.Scenario == "" {
		row.Scenario = other.Scenario
	}
	outcome := Moment{Event: Outcome, Occurrence: 1,
		SimDetail: outcomeDetail(sim), OtherDetail: outcomeDetail(other),
		SimAt: sim.Outcome.At(), OtherAt: other.Outcome.At(),
		Sim: sim.Outcome.Result != "", Other: other.Outcome.Result != "", interval: rule.Interval}
	judge(&outcome, row.SimBackend, row.OtherBackend)

	events := DecisiveEvents
	if rule.Interval > 0 {
		events = FlaggerDecisiveEvents
	}
	var moments []Moment
	for _, eventType := range events {
		simEvents, otherEvents := decisive(sim, eventType), decisive(other, eventType)
		for i := 0; i < max(len(simEvents), len(otherEvents)); i++ {
			moment := Moment{Event: eventType, Occurrence: i + 1, interval: rule.Interval}
			if i < len(simEvents) {
				moment.Sim, moment.SimAt, moment.SimDetail = true, simEvents[i].At(), detail(simEvents[i])
			}
			if i < len(otherEvents) {
				moment.Other, moment.OtherAt, moment.OtherDetail = true, otherEvents[i].At(), detail(otherEvents[i])
			}
			judge(&moment, row.SimBackend, row.OtherBackend)
			moments = append(moments, moment)
		}
	}
	// Timeline order: by the time on the sim, or on the other backend for
	// a moment the sim lacks; ties keep the order of DecisiveEvents.
	sort.SliceStable(moments, func(i, j int) bool { return firstTime(moments[i]) < firstTime(moments[j]) })

	row.Moments = append([]Moment{outcome}, moments...)
	row.Agrees = row.SimError == "" && row.OtherError == ""
	for _, moment := range row.Moments {
		row.Agrees = row.Agrees && moment.Agrees
	}
	return row
}

// judge decides whether a moment agrees and, if not, says why.
func judge(m *Moment, simBackend, otherBackend string) {
	switch {
	case !m.Sim && !m.Other:
		m.Reason = "recorded on neither backend"
	case !m.Sim:
		m.Reason = "missing on " + name(simBackend)
	case !m.Other:
		m.Reason = "missing on " + name(otherBackend)
	case m.SimDetail != m.OtherDetail:
		m.Reason = m.SimDetail + " on " + name(simBackend) + ", " + m.OtherDetail + " on " + name(otherBackend)
	default:
		difference, _ := m.Difference()
		if difference.Abs() > m.Tolerance() {
			m.Reason = "apart by " + FormatDuration(difference.Abs()) + ", more than " + FormatDuration(m.Tolerance())
		}
	}
	m.Agrees = m.Reason == ""
}

func decisive(res *result.Result, eventType string) []result.Event {
	var events []result.Event
	for _, event := range res.Events {
		if event.Type == eventType {
			events = append(events, event)
		}
	}
	return events
}

// detail is what must match besides the time: the weight set, or the
// phase an analysis ended in.
func detail(event result.Event) string {
	switch event.Type {
	case result.WeightChanged:
		if event.CanaryWeight != nil {
			return strconv.Itoa(*event.CanaryWeight) + "%"
		}
	case result.AnalysisRunCompleted, result.CanaryPhaseChanged:
		return event.Phase
	}
	return ""
}

// outcomeDetail is the outcome and why, which must match on both backends:
// "rolled-back (analysis: metric success-rate Failed)". The reason is read
// from the timeline, so results written before reasons existed compare too.
func outcomeDetail(res *result.Result) string {
	if reason := res.FindReason(); reason != nil {
		return res.Outcome.Result + " (" + reason.String() + ")"
	}
	return res.Outcome.Result
}

// name is a backend's name for messages; a result without one is "no result".
func name(backend string) string {
	if backend == "" {
		return "the backend without a result"
	}
	return backend
}

func firstTime(m Moment) time.Duration {
	if m.Sim {
		return m.SimAt
	}
	return m.OtherAt
}

func orEmpty(res *result.Result) *result.Result {
	if res == nil {
		return &result.Result{}
	}
	return res
}

// FormatDuration prints a time or difference in seconds with up to
// millisecond precision, as results do: "42.101s", "2s", "-0.3s".
func FormatDuration(d time.Duration) string {
	return strconv.FormatFloat(result.Seconds(d), 'f', -1, 64) + "s"
}

// Summary counts agreeing rows: "17 of 18 scenarios agree".
func Summary(rows []Row) string {
	agreeing := 0
	for _, row := range rows {
		if row.Agrees {
			agreeing++
		}
	}
	rule := fmt.Sprintf("max(%s, %d%% of the later time)", FormatDuration(MinTolerance), TolerancePercent)
	for _, row := range rows {
		if row.Interval > 0 {
			rule += "; Flagger: one analysis interval"
			break
		}
	}
	return fmt.Sprintf("%d of %d scenarios agree (tolerance per decisive moment: %s)", agreeing, len(rows), rule)
}
