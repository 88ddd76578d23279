package argorollouts

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	api "github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/scenario"

	"github.com/prometheus/common/model"

	"github.com/canarylab/canarylab/sim/vclock"
)

// Defaults of AR utils/defaults/defaults.go and analysis/analysis.go.
const (
	// DefaultErrorRetryInterval: after an Error the next try is 10s later,
	// whatever the interval (AR analysis/analysis.go:30).
	DefaultErrorRetryInterval = 10 * time.Second
)

// MetricsProvider answers a Prometheus instant query at the current virtual
// time, as the controller's provider queries at its own clock
// (AR metricproviders/prometheus/prometheus.go:80).
type MetricsProvider func(ctx context.Context, query string) (model.Value, error)

// measurement is one completed measurement.
type measurement struct {
	phase      Phase
	value      string
	message    string
	finishedAt time.Duration
}

// metricResult is a metric's counters (AR analysis/analysis.go:378-405).
type metricResult struct {
	phase                                           Phase
	count, successful, failed, inconclusive, errors int
	consecutiveError, consecutiveSuccess            int
	last                                            *measurement
	message                                         string
}

// AnalysisRun models an AnalysisRun and the analysis controller acting on it.
type AnalysisRun struct {
	Name      string
	metrics   []*api.ResolvedMetric
	results   []*metricResult
	startedAt time.Duration
	Phase     Phase
	Message   string
	terminate bool
	stepIndex int

	ctrl  *Controller
	timer *vclock.Timer
}

func (c *Controller) startAnalysisRun(name string, metrics []*api.ResolvedMetric) *AnalysisRun {
	// status.startedAt and each measurement's finishedAt are metav1.Time,
	// kept in whole seconds: initialDelay and interval count from those
	// (AR analysis/analysis.go generateMetricTasks reads them back).
	run := &AnalysisRun{Name: name, metrics: metrics, Phase: Pending, ctrl: c, startedAt: c.loop.Now().Truncate(time.Second)}
	for range metrics {
		run.results = append(run.results, &metricResult{phase: Pending})
	}
	c.emitAnalysis(run, "AnalysisRunStarted", "", "", "", "")
	// The analysis controller sees the new run through its informer.
	run.requeue(c.loop.Now() + c.cfg.AnalysisLatency)
	return run
}

// Terminate asks the run to stop (spec.terminate=true).
func (run *AnalysisRun) Terminate() {
	if run.terminate || run.Phase.Completed() {
		return
	}
	run.terminate = true
	run.requeue(run.ctrl.loop.Now() + run.ctrl.cfg.AnalysisLatency)
}

func (run *AnalysisRun) requeue(at time.Duration) {
	if run.timer != nil && run.timer.Active() && run.timer.At() <= at {
		return
	}
	if run.timer != nil {
		run.timer.Stop()
	}
	run.timer = run.ctrl.loop.At(at, run.reconcile)
}

// terminating: spec.terminate, or a non-dry-run metric Failed, Error or
// Inconclusive (AR utils/analysis/helpers.go IsTerminating).
func (run *AnalysisRun) terminating() bool {
	if run.terminate {
		return true
	}
	for i, result := range run.results {
		if run.metrics[i].DryRun {
			continue
		}
		switch result.phase {
		case Failed, ErrorPhase, Inconclusive:
			return true
		}
	}
	return false
}

// reconcile is one pass of the analysis controller over the run
// (AR analysis/analysis.go reconcileAnalysisRun).
func (run *AnalysisRun) reconcile() {
	c := run.ctrl
	if run.Phase.Completed() {
		return
	}
	if c.down {
		c.pendingRuns[run] = true
		return
	}
	now := c.loop.Now()
	terminating := run.terminating()
	// generateMetricTasks: which metrics are due now.
	for i, spec := range run.metrics {
		result := run.results[i]
		if result.phase.Completed() || terminating {
			continue
		}
		if result.last == nil {
			if spec.InitialDelay > 0 && run.startedAt+spec.InitialDelay > now {
				continue
			}
			run.measure(spec, result)
			continue
		}
		if spec.Count != nil && result.count >= *spec.Count {
			continue
		}
		interval := spec.Interval
		if result.last.phase == ErrorPhase || interval == 0 {
			interval = DefaultErrorRetryInterval
		}
		// timeutil.Now().After(FinishedAt + interval): strictly after.
		if now > result.last.finishedAt+interval {
			run.measure(spec, result)
		}
	}
	previous := run.Phase
	run.assess()
	if !run.Phase.Completed() && run.terminating() {
		// The status update re-enqueues the run; the next pass sees the
		// run terminating and resolves the other metrics.
		run.assess()
	}
	if run.Phase != previous && run.Phase.Completed() {
		c.emitAnalysis(run, "AnalysisRunCompleted", "", string(run.Phase), "", run.Message)
		c.enqueue()
		return
	}
	if next, ok := run.nextReconcile(); ok {
		run.requeue(next)
	}
}

// measure takes one measurement: an instant query now, evaluated with the
// metric's conditions (AR metricproviders/prometheus Run, processResponse).
func (run *AnalysisRun) measure(spec *api.ResolvedMetric, result *metricResult) {
	c := run.ctrl
	m := &measurement{finishedAt: c.loop.Now().Truncate(time.Second)}
	var err error
	if spec.Declared != nil {
		m.phase, m.value, err = declaredMeasurement(spec)
		m.message = "declared by the scenario (spec.stubs), not measured"
	} else {
		m.phase, m.value, err = c.query(spec)
	}
	if err != nil {
		// MarkMeasurementError keeps no value.
		m.phase, m.value, m.message = ErrorPhase, "", err.Error()
	}
	result.last = m
	switch m.phase {
	case Successful:
		result.count++
		result.successful++
		result.consecutiveError = 0
		result.consecutiveSuccess++
	case Failed:
		result.count++
		result.failed++
		result.consecutiveError, result.consecutiveSuccess = 0, 0
	case Inconclusive:
		result.count++
		result.inconclusive++
		result.consecutiveError, result.consecutiveSuccess = 0, 0
	case ErrorPhase:
		// Errors do not consume count.
		result.errors++
		result.consecutiveError++
		result.consecutiveSuccess = 0
	}
	if result.phase == Pending {
		result.phase = Running
	}
	c.emitAnalysis(run, "MeasurementTaken", spec.Name, string(m.phase), m.value, m.message)
}

// query asks Prometheus and judges the answer with the metric's conditions.
func (c *Controller) query(spec *api.ResolvedMetric) (Phase, string, error) {
	value, err := c.metrics(context.Background(), spec.Query)
	if err != nil {
		return ErrorPhase, "", err
	}
	result, text, err := processResponse(value)
	if err != nil {
		return ErrorPhase, "", err
	}
	phase, err := evaluateResult(result, spec.SuccessCondition, spec.FailureCondition)
	return phase, text, err
}

// declaredMeasurement is a measurement the scenario declares: an answer
// (pass: Successful, fail: Failed) or a value the metric's conditions
// judge, as Argo Rollouts judges a web metric's JSON answer (AR
// metricproviders/webmetric/webmetric.go parseResponse: the decoded JSON,
// numbers as float64).
func declaredMeasurement(spec *api.ResolvedMetric) (Phase, string, error) {
	switch spec.Declared.Answer {
	case scenario.AnswerPass:
		return Successful, "", nil
	case scenario.AnswerFail:
		return Failed, "", nil
	}
	var result any
	if err := json.Unmarshal([]byte(spec.Declared.Value), &result); err != nil {
		return ErrorPhase, "", err
	}
	phase, err := evaluateResult(result, spec.SuccessCondition, spec.FailureCondition)
	if err != nil {
		return ErrorPhase, "", err
	}
	return phase, spec.Declared.Value, nil
}

// processResponse turns a query result into the condition's `result`:
// scalar → float64, vector → []float64, matrix → flattened []float64.
func processResponse(value model.Value) (any, string, error) {
	switch v := value.(type) {
	case *model.Scalar:
		return float64(v.Value), v.Value.String(), nil
	case model.Vector:
		values := make([]float64, 0, len(v))
		texts := make([]string, 0, len(v))
		for _, sample := range v {
			values = append(values, float64(sample.Value))
			texts = append(texts, sample.Value.String())
		}
		return values, "[" + strings.Join(texts, ",") + "]", nil
	case model.Matrix:
		var values []float64
		var texts []string
		for _, stream := range v {
			for _, pair := range stream.Values {
				values = append(values, float64(pair.Value))
				texts = append(texts, pair.Value.String())
			}
		}
		if values == nil {
			values = []float64{}
		}
		return values, "[" + strings.Join(texts, ",") + "]", nil
	}
	return nil, "", fmt.Errorf("Prometheus metric type not supported")
}

// assess updates metric phases and the run phase
// (AR analysis/analysis.go assessRunStatus, assessMetricStatus).
func (run *AnalysisRun) assess() {
	terminating := run.terminating()
	worst, worstMessage := Phase(""), ""
	everythingCompleted := true
	if run.terminate {
		worstMessage = "Run Terminated"
	}
	for i, spec := range run.metrics {
		result := run.results[i]
		status := assessMetric(spec, result, terminating)
		if status != result.phase {
			if result.last != nil {
				result.message = result.last.message
			}
			result.phase = status
		}
		if !status.Completed() {
			everythingCompleted = false
			continue
		}
		if spec.DryRun {
			if worst == "" {
				worst = Successful
			}
			continue
		}
		if worst == "" || phaseRank(status) > phaseRank(worst) {
			worst = status
			if _, message := limitsCrossed(spec, result); message != "" {
				worstMessage = fmt.Sprintf("Metric \"%s\" assessed %s due to %s", spec.Name, status, message)
				if result.message != "" {
					worstMessage += fmt.Sprintf(": \"Error Message: %s\"", result.message)
				}
			}
		}
	}
	switch {
	case terminating && worst == "":
		run.Phase, run.Message = Successful, worstMessage
	case terminating:
		run.Phase, run.Message = worst, worstMessage
	case !everythingCompleted || worst == "":
		run.Phase, run.Message = Running, ""
	default:
		run.Phase, run.Message = worst, worstMessage
	}
}

func assessMetric(spec *api.ResolvedMetric, result *metricResult, terminating bool) Phase {
	if result.phase.Completed() {
		return result.phase
	}
	if result.last == nil {
		if terminating {
			return Successful
		}
		return Pending
	}
	if phase, _ := limitsCrossed(spec, result); phase != "" {
		return phase
	}
	if spec.ConsecutiveSuccessLimit > 0 && result.consecutiveSuccess >= spec.ConsecutiveSuccessLimit {
		return Successful
	}
	if spec.Count != nil && result.count >= *spec.Count {
		failureApplicable := spec.FailureLimit >= 0
		successApplicable := spec.ConsecutiveSuccessLimit > 0
		switch {
		case failureApplicable && successApplicable:
			return Inconclusive
		case successApplicable:
			return Failed
		}
		return Successful
	}
	if terminating {
		return Successful
	}
	return Running
}

// limitsCrossed is AR assessMetricFailureInconclusiveOrError: later checks
// override earlier ones, so Error > Inconclusive > Failed.
func limitsCrossed(spec *api.ResolvedMetric, result *metricResult) (Phase, string) {
	var phase Phase
	var message string
	if spec.FailureLimit >= 0 && result.failed > spec.FailureLimit {
		phase, message = Failed, fmt.Sprintf("failed (%d) > failureLimit (%d)", result.failed, spec.FailureLimit)
	}
	if result.inconclusive > spec.InconclusiveLimit {
		phase, message = Inconclusive, fmt.Sprintf("inconclusive (%d) > inconclusiveLimit (%d)", result.inconclusive, spec.InconclusiveLimit)
	}
	if result.consecutiveError > spec.ConsecutiveErrorLimit {
		phase, message = ErrorPhase, fmt.Sprintf("consecutiveErrors (%d) > consecutiveErrorLimit (%d)", result.consecutiveError, spec.ConsecutiveErrorLimit)
	}
	return phase, message
}

// nextReconcile is the earliest time a metric is due
// (AR analysis/analysis.go calculateNextReconcileTime), just after it since
// a measurement is due strictly after FinishedAt + interval.
func (run *AnalysisRun) nextReconcile() (time.Duration, bool) {
	var next time.Duration
	found := false
	consider := func(at time.Duration) {
		if !found || at < next {
			next, found = at, true
		}
	}
	for i, spec := range run.metrics {
		result := run.results[i]
		if result.phase.Completed() {
			continue
		}
		if result.last == nil {
			if spec.InitialDelay > 0 {
				consider(run.startedAt + spec.InitialDelay)
			}
			continue
		}
		if spec.Count != nil && result.count >= *spec.Count {
			continue
		}
		interval := spec.Interval
		if result.last.phase == ErrorPhase {
			interval = DefaultErrorRetryInterval
		} else if interval == 0 {
			continue
		}
		consider(result.last.finishedAt + interval + time.Millisecond)
	}
	return next, found
}
