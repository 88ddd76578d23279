package argorollouts

import (
	"errors"
	"fmt"
	"time"

	"github.com/canarylab/canarylab/scenario"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
)

// DefaultConsecutiveErrorLimit: the 5th consecutive error ends a metric
// (AR utils/defaults/defaults.go).
const DefaultConsecutiveErrorLimit = 4

// ResolvedMetric is a metric with its arguments resolved and its defaults
// applied: what the controller measures.
type ResolvedMetric struct {
	Name                               string
	Interval, InitialDelay             time.Duration
	Count                              *int // effective count; nil runs forever
	SuccessCondition, FailureCondition string
	FailureLimit, InconclusiveLimit    int
	ConsecutiveErrorLimit              int
	ConsecutiveSuccessLimit            int
	Query                              string
	DryRun                             bool
	// Declared is the scenario's answer for the metric (spec.stubs), if
	// any: measurements take it instead of asking the provider.
	Declared *scenario.MetricStub
}

// ResolveMetric substitutes args into a metric and applies defaults
// (AR analysis_types.go EffectiveCount; defaults.go).
func ResolveMetric(metric Metric, args map[string]string) (*ResolvedMetric, error) {
	var firstErr error
	substitute := func(text string) string {
		return argRef.ReplaceAllStringFunc(text, func(ref string) string {
			name := argRef.FindStringSubmatch(ref)[1]
			value, ok := args[name]
			if !ok && firstErr == nil {
				firstErr = fmt.Errorf("metric %s: args.%s is not resolved", metric.Name, name)
			}
			return value
		})
	}
	intOf := func(value *IntOrString, fallback int) int {
		if value == nil {
			return fallback
		}
		n, err := IntOrString{Text: substitute(value.Text), Set: true}.Int()
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("metric %s: %w", metric.Name, err)
		}
		return n
	}
	spec := &ResolvedMetric{
		Name:                    metric.Name,
		SuccessCondition:        substitute(metric.SuccessCondition),
		FailureCondition:        substitute(metric.FailureCondition),
		FailureLimit:            intOf(metric.FailureLimit, 0),
		InconclusiveLimit:       intOf(metric.InconclusiveLimit, 0),
		ConsecutiveErrorLimit:   intOf(metric.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit),
		ConsecutiveSuccessLimit: intOf(metric.ConsecutiveSuccessLimit, 0),
	}
	if metric.Provider.Prometheus != nil {
		spec.Query = substitute(metric.Provider.Prometheus.Query)
	}
	for _, field := range []struct {
		text   string
		target *time.Duration
	}{{metric.Interval, &spec.Interval}, {metric.InitialDelay, &spec.InitialDelay}} {
		if text := substitute(field.text); text != "" {
			d, err := time.ParseDuration(text)
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("metric %s: %q is not a duration", metric.Name, text)
			}
			*field.target = d
		}
	}
	count := intOf(metric.Count, 0)
	switch {
	case count > 0:
		spec.Count = &count
	case spec.Interval == 0 && metric.Interval == "":
		one := 1
		spec.Count = &one
	}
	return spec, firstErr
}

// CheckCondition checks a condition's syntax. Types are checked only at
// measurement time, against the result's own type, as the controller does.
func CheckCondition(condition string) error {
	_, err := parser.Parse(condition)
	return ConditionError(err)
}

// ConditionError is an expr error without its position, which the
// condition's own text makes plain.
func ConditionError(err error) error {
	var fileErr *file.Error
	if errors.As(err, &fileErr) {
		return errors.New(fileErr.Message)
	}
	return err
}
