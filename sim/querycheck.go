package sim

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/dataplane"
	"github.com/canarylab/canarylab/sim/metricstore"
)

// QueryWarnings names the analysis queries of a scenario that select a
// metric, or a label of a metric, that the telemetry canarylab produces for
// it never has (dataplane.Schema), or a label value that never occurs in
// the scenario's run on the sim (a short Service name where Istio labels
// the host's FQDN): such a query returns no data on every backend that
// serves this telemetry, and the analysis judges that, not the release (an
// NGINX ingress metric under Istio, a misspelt label).
func QueryWarnings(sc *scenario.Scenario) ([]string, error) {
	var queries []namedQuery
	mesh := dataplane.MeshIstio
	if sc.Spec.Controller == scenario.ControllerFlagger {
		m, err := flagger.DecodeScenario(sc)
		if err != nil {
			return nil, err
		}
		mesh = flagger.MeshFor(&m.Canary, sc.Spec.MeshProvider)
		if mesh != flagger.MeshIstio && mesh != flagger.MeshLinkerd {
			// A router the sim does not model (refused as unsupported): its
			// telemetry is not canarylab's to judge.
			return nil, nil
		}
		for key, template := range m.Templates {
			queries = append(queries, namedQuery{"MetricTemplate " + key, template.Spec.Query})
		}
	} else {
		m, err := argorollouts.DecodeScenario(sc)
		if err != nil {
			return nil, err
		}
		for _, set := range []map[string]*argorollouts.AnalysisTemplate{m.Templates, m.Cluster} {
			for name, template := range set {
				for _, metric := range template.Spec.Metrics {
					if metric.Provider.Prometheus != nil {
						queries = append(queries, namedQuery{fmt.Sprintf("AnalysisTemplate %s metric %s", name, metric.Name), metric.Provider.Prometheus.Query})
					}
				}
			}
		}
	}
	schema, err := dataplane.Schema(mesh)
	if err != nil {
		return nil, err
	}
	sort.Slice(queries, func(i, j int) bool { return queries[i].name < queries[j].name })
	values := telemetryValues(sc)
	var warnings []string
	for _, query := range queries {
		warnings = append(warnings, query.check(schema, values, mesh)...)
	}
	return warnings, nil
}

// telemetryValues replays the scenario on the sim and returns the label
// values its telemetry had (metricstore.Store.LabelValues); nil when the
// sim cannot run it, and then no value is judged.
func telemetryValues(sc *scenario.Scenario) map[string]map[string][]string {
	var values map[string]map[string][]string
	_, err := New().replay(context.Background(), sc, runner.Options{Seed: runner.DefaultSeed}, func(store *metricstore.Store) {
		values = store.LabelValues()
	})
	if err != nil {
		return nil
	}
	return values
}

// outcomeLabels hold what a request's outcome decides (its code, flags,
// latency bucket): whether a value occurs depends on the release's
// behaviour in this run, not on the scenario's objects, so they are not
// judged.
var outcomeLabels = map[string]bool{
	"response_code": true, "response_flags": true, "grpc_response_status": true, "le": true,
	"classification": true, "status_code": true, "error": true,
}

type namedQuery struct{ name, text string }

var (
	// templated are the placeholders of Argo Rollouts' args and Flagger's
	// templates; a range's becomes a duration, any other a plain value, so
	// that the query parses.
	templatedRange = regexp.MustCompile(`\[\s*\{\{[^}]*\}\}\s*\]`)
	templated      = regexp.MustCompile(`\{\{[^}]*\}\}`)
)

// placeholder stands for a template's value in a query: a value holding
// it is not known before the run and is not judged.
const placeholder = "canarylab_placeholder"

// check lists the selectors of the query that can never match.
func (q namedQuery) check(schema map[string][]string, values map[string]map[string][]string, mesh string) []string {
	text := templatedRange.ReplaceAllString(q.text, "[1m]")
	text = templated.ReplaceAllString(text, placeholder)
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(text)
	if err != nil {
		return nil // the template's own validation reports it
	}
	metrics := make([]string, 0, len(schema))
	for name := range schema {
		metrics = append(metrics, name)
	}
	sort.Strings(metrics)
	var warnings []string
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		selector, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := selector.Name
		for _, matcher := range selector.LabelMatchers {
			if matcher.Name == labels.MetricName && matcher.Type == labels.MatchEqual {
				name = matcher.Value
			}
		}
		known, ok := schema[name]
		if name == "" || name == placeholder {
			return nil
		}
		if !ok {
			warnings = append(warnings, fmt.Sprintf("%s selects %s, which the %s telemetry never has: the query returns no data, whatever the release does (metrics: %s)",
				q.name, name, mesh, strings.Join(metrics, ", ")))
			return nil
		}
		for _, matcher := range selector.LabelMatchers {
			if matcher.Name == labels.MetricName || slices.Contains(known, matcher.Name) || matcher.Matches("") {
				continue
			}
			warnings = append(warnings, fmt.Sprintf("%s selects %s with label %s, which %s never has: the selector matches nothing, whatever the release does (labels: %s)",
				q.name, name, matcher.Name, name, strings.Join(known, ", ")))
		}
		for _, matcher := range selector.LabelMatchers {
			seen, ran := values[name][matcher.Name]
			if !ran || outcomeLabels[matcher.Name] || strings.Contains(matcher.Value, placeholder) ||
				(matcher.Type != labels.MatchEqual && matcher.Type != labels.MatchRegexp) || slices.ContainsFunc(seen, matcher.Matches) {
				continue
			}
			warnings = append(warnings, fmt.Sprintf("%s selects %s with %s, a value %s never has in this scenario's run: the selector matches nothing (values: %s)",
				q.name, name, matcher, matcher.Name, strings.Join(seen, ", ")))
		}
		return nil
	})
	return warnings
}
