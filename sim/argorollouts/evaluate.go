package argorollouts

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	api "github.com/canarylab/canarylab/controller/argorollouts"
)

// Phase is an analysis phase (AR pkg/apis/rollouts/v1alpha1/analysis_types.go).
type Phase string

// Analysis phases.
const (
	Pending      Phase = "Pending"
	Running      Phase = "Running"
	Successful   Phase = "Successful"
	Failed       Phase = "Failed"
	ErrorPhase   Phase = "Error"
	Inconclusive Phase = "Inconclusive"
)

// Completed is true for the terminal phases.
func (p Phase) Completed() bool {
	switch p {
	case Successful, Failed, ErrorPhase, Inconclusive:
		return true
	}
	return false
}

// phaseRank orders phases from best to worst
// (AR utils/analysis/helpers.go IsWorse: Successful < Running < Pending <
// Inconclusive < Error < Failed).
func phaseRank(p Phase) int {
	switch p {
	case Successful:
		return 0
	case Running:
		return 1
	case Pending:
		return 2
	case Inconclusive:
		return 3
	case ErrorPhase:
		return 4
	case Failed:
		return 5
	}
	return 0
}

// evaluateResult judges a measurement's result with the metric's conditions,
// as AR utils/evaluate/evaluate.go EvaluateResult does: no conditions is
// Successful; only a successCondition fails when false; only a
// failureCondition succeeds when false; both false is Inconclusive; failure
// wins when both are true. An evaluation error is an Error measurement.
func evaluateResult(result any, successCondition, failureCondition string) (Phase, error) {
	success, failure := false, false
	var err error
	if successCondition != "" {
		if success, err = evalCondition(result, successCondition); err != nil {
			return ErrorPhase, formatEvalError(err, "successCondition", successCondition, result)
		}
	}
	if failureCondition != "" {
		if failure, err = evalCondition(result, failureCondition); err != nil {
			return ErrorPhase, formatEvalError(err, "failureCondition", failureCondition, result)
		}
	}
	switch {
	case successCondition == "" && failureCondition == "":
		return Successful, nil
	case successCondition != "" && failureCondition == "":
		failure = !success
	case successCondition == "" && failureCondition != "":
		success = !failure
	}
	if failure {
		return Failed, nil
	}
	if !success {
		return Inconclusive, nil
	}
	return Successful, nil
}

// formatEvalError words an evaluation error as v1.10 does
// (AR utils/evaluate/evaluate.go formatEvalError, PR #4680).
func formatEvalError(err error, conditionType, expression string, result any) error {
	if isNilOrEmpty(result) {
		return fmt.Errorf("could not evaluate %s \"%s\": metric result is nil or empty: no data returned from the metric provider", conditionType, expression)
	}
	return fmt.Errorf("could not evaluate %s \"%s\": %w", conditionType, expression, err)
}

// conditionEnv is the expression environment of AR utils/evaluate
// EvalCondition: result plus asInt, asFloat, isNaN, isInf, isNil, default.
func conditionEnv(result any) map[string]any {
	return map[string]any{
		"result":  valueFromPointer(result),
		"asInt":   asInt,
		"asFloat": asFloat,
		"isNaN":   math.IsNaN,
		"isInf":   func(f float64) bool { return math.IsInf(f, 0) },
		"isNil":   func(any) bool { return isNil(result) },
		"default": func(_ any, fallback any) any {
			if isNil(result) {
				return fallback
			}
			return valueFromPointer(result)
		},
	}
}

// evalCondition compiles and runs a condition against the result; the
// program is compiled per measurement with the result's own type, as the
// controller does.
func evalCondition(result any, condition string) (ok bool, err error) {
	defer func() {
		// asInt/asFloat panic on bad input in the controller too, where
		// expr turns the panic into an error; keep it an error here.
		if recovered := recover(); recovered != nil {
			ok, err = false, fmt.Errorf("%v", recovered)
		}
	}()
	env := conditionEnv(result)
	program, err := compiled(condition, env)
	if err != nil {
		return false, api.ConditionError(err)
	}
	output, err := expr.Run(program, env)
	if err != nil {
		return false, api.ConditionError(err)
	}
	value, isBool := output.(bool)
	if !isBool {
		return false, fmt.Errorf("expected bool, but got %T", output)
	}
	return value, nil
}

// programs caches compiled conditions by text and result type. The
// controller compiles per measurement; the program depends only on the
// environment's types (its values, including the helper closures, are read
// at run time), so reusing it gives the same outcome.
var programs sync.Map

type programKey struct {
	condition  string
	resultType reflect.Type
}

func compiled(condition string, env map[string]any) (*vm.Program, error) {
	key := programKey{condition, reflect.TypeOf(env["result"])}
	if program, ok := programs.Load(key); ok {
		return program.(*vm.Program), nil
	}
	program, err := expr.Compile(condition, expr.Env(env))
	if err != nil {
		return nil, err
	}
	programs.Store(key, program)
	return program, nil
}

func isNil(in any) bool {
	if in == nil {
		return true
	}
	switch reflect.TypeOf(in).Kind() {
	case reflect.Ptr, reflect.Map, reflect.Array, reflect.Chan, reflect.Slice:
		value := reflect.ValueOf(in)
		return value.Kind() != reflect.Array && value.IsNil()
	}
	return false
}

func isNilOrEmpty(result any) bool {
	if isNil(result) {
		return true
	}
	value := reflect.ValueOf(result)
	switch value.Kind() {
	case reflect.Slice, reflect.Array:
		return value.Len() == 0
	}
	return false
}

func valueFromPointer(in any) any {
	if isNil(in) {
		return nil
	}
	if reflect.TypeOf(in).Kind() != reflect.Ptr {
		return in
	}
	return reflect.ValueOf(in).Elem().Interface()
}

func asInt(in any) int64 {
	switch v := in.(type) {
	case float64:
		return int64(v)
	case float32:
		return int64(v)
	case int:
		return int64(v)
	case int64:
		return v
	case int32:
		return int64(v)
	case uint64:
		return int64(v)
	case string:
		parsed, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			panic(err)
		}
		return parsed
	}
	panic(fmt.Sprintf("asInt() not supported on %v %v", reflect.TypeOf(in), in))
}

func asFloat(in any) float64 {
	switch v := in.(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case int32:
		return float64(v)
	case uint64:
		return float64(v)
	case string:
		parsed, err := strconv.ParseFloat(v, 64)
		if err != nil {
			panic(err)
		}
		return parsed
	}
	panic(fmt.Sprintf("asFloat() not supported on %v %v", reflect.TypeOf(in), in))
}
