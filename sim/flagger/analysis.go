package flagger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	api "github.com/canarylab/canarylab/controller/flagger"
	"math"
	"regexp"
	"sort"
	"strconv"
	"text/template"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/sim/dataplane"
)

// Webhook types (FL pkg/apis/flagger/v1beta1/canary.go:413-431).
const (
	hookConfirmRollout         = "confirm-rollout"
	hookPreRollout             = "pre-rollout"
	hookRollout                = "rollout"
	hookConfirmTrafficIncrease = "confirm-traffic-increase"
	hookConfirmPromotion       = "confirm-promotion"
	hookPostRollout            = "post-rollout"
	hookRollback               = "rollback"
	hookEvent                  = "event"
)

// callHook posts the payload; success is no error and a status of at most
// 202, and a failure's text is the response body (FL pkg/controller/webhook.go:58-95).
func (c *Controller) callHook(hook api.Webhook, phase string) error {
	payload := Payload{Name: c.m.Canary.Metadata.Name, Namespace: c.m.Namespace, Phase: phase,
		Checksum: c.lastAppliedImage, Metadata: hook.Metadata}
	status, body, err := c.webhooks(hook, payload)
	if err != nil {
		return err
	}
	if status > 202 {
		return errors.New(body)
	}
	return nil
}

// runHooks runs the hooks of one type in spec order; the first failure
// stops them and is named (FL pkg/controller/scheduler_hooks.go).
func (c *Controller) runHooks(hookType, phase string) (bool, string) {
	for _, hook := range c.analysis.Webhooks {
		if hook.Type != hookType {
			continue
		}
		if err := c.callHook(hook, phase); err != nil {
			c.hookErr = err
			return false, hook.Name
		}
	}
	return true, ""
}

// rollbackSignalled: a rollback hook answering success rolls back now
// (FL pkg/controller/scheduler_hooks.go:126-139).
func (c *Controller) rollbackSignalled(phase string) bool {
	for _, hook := range c.analysis.Webhooks {
		if hook.Type == hookRollback && c.callHook(hook, phase) == nil {
			return true
		}
	}
	return false
}

// runAnalysis is rollout hooks, then built-in metrics, then templated
// metrics; the first failure is the tick's failed check (FL
// pkg/controller/scheduler.go:752-776).
func (c *Controller) runAnalysis() (bool, string) {
	for _, hook := range c.analysis.Webhooks {
		if hook.Type == "" || hook.Type == hookRollout {
			if err := c.callHook(hook, api.PhaseProgressing); err != nil {
				return false, fmt.Sprintf("Halt %s advancement external check %s failed %v", c.name(), hook.Name, err)
			}
		}
	}
	clear(c.LastCheck)
	for _, metric := range c.analysis.Metrics {
		if ok, message := c.checkMetric(metric); !ok {
			return false, message
		}
	}
	return true, ""
}

// errNoValues is the provider's ErrNoValuesFound (FL pkg/metrics/providers/prometheus.go:165-172).
var errNoValues = errors.New("no values found")

// checkMetric checks one metric. Built-in metrics and inline queries go to
// the mesh's observer; templates are rendered and sent to their provider
// (FL pkg/controller/scheduler_metrics.go:94-258, 260-355).
func (c *Controller) checkMetric(metric api.Metric) (bool, string) {
	interval := metric.Interval
	if interval == "" {
		interval = "1m" // MetricInterval (FL canary.go:36)
	}
	var query, kind string
	switch {
	case metric.TemplateRef != nil:
		template := c.template(metric.TemplateRef)
		rendered, err := c.render(template.Spec.Query, interval, metric.TemplateVariables)
		if err != nil {
			return false, fmt.Sprintf("Metric template %s.%s query render error: %v", metric.TemplateRef.Name, c.m.Namespace, err)
		}
		query, kind = rendered, "template"
	case metric.Name == "request-success-rate" || metric.Name == "request-duration":
		rendered, err := c.render(builtinQueries[c.mesh][metric.Name], interval, metric.TemplateVariables)
		if err != nil {
			return false, err.Error()
		}
		query, kind = rendered, "builtin"
	case metric.Query != "":
		rendered, err := c.render(metric.Query, interval, metric.TemplateVariables)
		if err != nil {
			return false, err.Error()
		}
		query, kind = rendered, "query"
	default:
		return false, "Metric query failed for no usable metrics template and query were configured"
	}
	value, err := c.runQuery(query)
	if err != nil {
		message := ""
		switch {
		case errors.Is(err, errNoValues) && kind == "builtin":
			message = fmt.Sprintf("Halt advancement no values found for %s metric %s probably %s.%s is not receiving traffic", c.mesh, metric.Name, c.target.name, c.m.Namespace)
			if metric.Name == "request-success-rate" {
				message += ": running query failed: no values found"
			}
		case errors.Is(err, errNoValues) && kind == "template":
			message = fmt.Sprintf("Halt advancement no values found for custom metric: %s: no values found", metric.Name)
		case errors.Is(err, errNoValues):
			message = fmt.Sprintf("Halt advancement no values found for metric: %s", metric.Name)
		case kind == "template":
			message = fmt.Sprintf("Metric query failed for %s: %v", metric.Name, err)
		default:
			message = fmt.Sprintf("Prometheus query failed: %v", err)
		}
		c.emit(result.Event{Type: result.MeasurementTaken, Metric: metric.Name, Phase: "Error", Message: message})
		return false, message
	}
	low, high := thresholds(metric)
	shown := strconv.FormatFloat(value, 'f', -1, 64)
	var failure string
	switch {
	case kind == "builtin" && metric.Name == "request-duration":
		// Milliseconds truncated to a whole ms (FL pkg/metrics/observers/istio.go:94).
		ms := time.Duration(int64(value)) * time.Millisecond
		shown = ms.String()
		if low != nil && ms < time.Duration(*low)*time.Millisecond {
			failure = fmt.Sprintf("Halt %s advancement request duration %v < %v", c.name(), ms, time.Duration(*low)*time.Millisecond)
		}
		if high != nil && ms > time.Duration(*high)*time.Millisecond {
			failure = fmt.Sprintf("Halt %s advancement request duration %v > %v", c.name(), ms, time.Duration(*high)*time.Millisecond)
		}
	case kind == "builtin":
		shown = fmt.Sprintf("%.2f%%", value)
		if low != nil && value < *low {
			failure = fmt.Sprintf("Halt %s advancement success rate %.2f%% < %v%%", c.name(), value, *low)
		} else if high != nil && value > *high {
			failure = fmt.Sprintf("Halt %s advancement success rate %.2f%% > %v%%", c.name(), value, *high)
		}
	default:
		if low != nil && value < *low {
			failure = fmt.Sprintf("Halt %s advancement %s %.2f < %v", c.name(), metric.Name, value, *low)
		} else if high != nil && value > *high {
			failure = fmt.Sprintf("Halt %s advancement %s %.2f > %v", c.name(), metric.Name, value, *high)
		}
	}
	c.LastCheck[metric.Name] = shown
	phase := "Successful"
	if failure != "" {
		phase = "Failed"
	}
	c.emit(result.Event{Type: result.MeasurementTaken, Metric: metric.Name, Phase: phase, Value: shown, Message: failure})
	return failure == "", failure
}

// thresholds are the inclusive bounds: thresholdRange, else the legacy
// threshold as min for the success rate and max for the rest.
func thresholds(metric api.Metric) (low, high *float64) {
	if r := metric.ThresholdRange; r != nil {
		return r.Min, r.Max
	}
	threshold := 0.0
	if metric.Threshold != nil {
		threshold = *metric.Threshold
	}
	if metric.Name == "request-success-rate" && metric.TemplateRef == nil {
		return &threshold, nil
	}
	return nil, &threshold
}

func (c *Controller) template(ref *api.TemplateRef) *api.MetricTemplate {
	namespace := ref.Namespace
	if namespace == "" {
		namespace = c.m.Namespace
	}
	return c.m.Templates[namespace+"/"+ref.Name]
}

var whitespace = regexp.MustCompile(`\s+`)

// render fills a query template as Flagger does (FL
// pkg/metrics/observers/render.go:28-45, pkg/apis/flagger/v1beta1/metric.go:101-112).
func (c *Controller) render(text, interval string, variables map[string]string) (string, error) {
	canary := &c.m.Canary
	service := canary.Spec.TargetRef.Name
	if canary.Spec.Service != nil && canary.Spec.Service.Name != "" {
		service = canary.Spec.Service.Name
	}
	if variables == nil {
		variables = map[string]string{}
	}
	key := text + "\x00" + interval + "\x00" + fmt.Sprint(variables)
	if query, ok := c.rendered[key]; ok {
		return query, nil
	}
	functions := template.FuncMap{
		"name":      func() string { return canary.Metadata.Name },
		"namespace": func() string { return c.m.Namespace },
		"target":    func() string { return canary.Spec.TargetRef.Name },
		"service":   func() string { return service },
		"ingress":   func() string { return canary.Spec.TargetRef.Name },
		"route":     func() string { return canary.Spec.TargetRef.Name },
		"interval":  func() string { return interval },
		"variables": func() map[string]string { return variables },
	}
	parsed, err := template.New("tmpl").Option("missingkey=error").Funcs(functions).Parse(text)
	if err != nil {
		return "", fmt.Errorf("template parsing failed: %w", err)
	}
	var out bytes.Buffer
	if err := parsed.Execute(&out, nil); err != nil {
		return "", fmt.Errorf("template excution failed: %w", err)
	}
	// The provider collapses whitespace before sending (FL prometheus.go trimQuery).
	query := whitespace.ReplaceAllString(out.String(), " ")
	c.rendered[key] = query
	return query, nil
}

// runQuery is the Prometheus provider's RunQuery (FL
// pkg/metrics/providers/prometheus.go:106-173): the last sample of a vector,
// NaN or nothing is no values, anything else an error.
func (c *Controller) runQuery(query string) (float64, error) {
	// The backend's query runs on the run's context and is bounded in
	// samples; Flagger's 5 s HTTP timeout never fires in virtual time.
	value, err := c.metrics(context.Background(), query)
	if err != nil {
		return 0, fmt.Errorf("running query failed: %w", err)
	}
	vector, ok := value.(model.Vector)
	if !ok {
		return 0, fmt.Errorf("running query failed: unexpected result type %s", value.Type())
	}
	if len(vector) == 0 {
		return 0, fmt.Errorf("running query failed: %w", errNoValues)
	}
	last := float64(vector[len(vector)-1].Value)
	if math.IsNaN(last) {
		return 0, fmt.Errorf("running query failed: %w", errNoValues)
	}
	return last, nil
}

// builtinQueries are the observers' queries per mesh (FL
// pkg/metrics/observers/istio.go:27-63, linkerd.go:27-63): the canary
// workload only, by target name.
var builtinQueries = map[string]map[string]string{
	api.MeshIstio: {
		"request-success-rate": `sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) * 100`,
		"request-duration":     `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))`,
	},
	api.MeshLinkerd: {
		"request-success-rate": `sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",classification!="failure",direction="inbound"}[{{ interval }}])) / sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) * 100`,
		"request-duration":     `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"}[{{ interval }}])) by (le))`,
	},
}

func sortMatches(matches []dataplane.HeaderMatch) {
	sort.Slice(matches, func(i, j int) bool { return matches[i].Name < matches[j].Name })
}

func itoa(n int) string { return strconv.Itoa(n) }
