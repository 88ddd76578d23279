package argorollouts

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/metricstore"
)

// ErrUnsupported marks valid manifests that use what the sim does not model;
// the local backend, running the real controller, can replay them.
var ErrUnsupported = errors.New("not modelled by the sim backend")

// Bounds the model adds to the controller's own validation.
const (
	// MinMeasurementInterval is the shortest metric interval: measurement
	// times are metav1.Time, serialized in whole seconds (AR analysis.go
	// reads FinishedAt back to decide the next measurement).
	MinMeasurementInterval = time.Second
	// MaxConditionBytes bounds a successCondition or failureCondition.
	MaxConditionBytes = 16 << 10
)

var argRef = regexp.MustCompile(`\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}`)

func validateRollout(ps *Problems, m *Manifests) {
	rollout := &m.Rollout
	file, line := scenario.SplitPosition(m.RolloutWhere)
	if rollout.Spec.Replicas != nil && (*rollout.Spec.Replicas < 0 || *rollout.Spec.Replicas > scenario.MaxReplicas) {
		ps.Add(file, line, "Rollout %s: spec.replicas %d is outside 0..%d (canarylab models every pod)", rollout.Metadata.Name, *rollout.Spec.Replicas, scenario.MaxReplicas)
	}
	canary := rollout.Spec.Strategy.Canary
	if canary == nil {
		if rollout.Spec.Strategy.BlueGreen == nil {
			ps.Add(file, line, "Rollout %s: spec.strategy needs canary or blueGreen", rollout.Metadata.Name)
		}
		return
	}
	if rollout.Spec.Strategy.BlueGreen != nil {
		ps.Add(file, line, "Rollout %s: spec.strategy has both canary and blueGreen; choose one", rollout.Metadata.Name)
	}
	maxWeight := 100
	if canary.TrafficRouting != nil {
		if canary.TrafficRouting.MaxTrafficWeight != nil {
			maxWeight = *canary.TrafficRouting.MaxTrafficWeight
		}
		// AR pkg/apis/rollouts/validation/validation.go:241-260 requireCanaryStableServices:
		// traffic routing needs both services, except Istio with a
		// DestinationRule (subset-level routing), ALB or Istio with
		// pingPong, and plugins.
		routing := canary.TrafficRouting
		subsets := routing.Istio != nil && routing.Istio.DestinationRule != nil
		has := func(router string) bool { _, ok := routing.Other[router]; return ok }
		require := (routing.Istio != nil && !subsets && canary.PingPong == nil) || (has("alb") && canary.PingPong == nil)
		for _, router := range []string{"smi", "apisix", "ambassador", "nginx", "appMesh", "traefik"} {
			require = require || has(router)
		}
		if require && (canary.CanaryService == "" || canary.StableService == "") {
			ps.Add(file, line, "Rollout %s: canary traffic routing needs canaryService and stableService (the controller rejects the Rollout without them; "+
				"Istio also routes by a destinationRule's subsets, ALB and Istio by pingPong)", rollout.Metadata.Name)
		}
		if istio := canary.TrafficRouting.Istio; istio != nil {
			refs := istio.VirtualServices
			if istio.VirtualService != nil {
				refs = append(refs, *istio.VirtualService)
			}
			if len(refs) == 0 {
				ps.Add(file, line, "Rollout %s: trafficRouting.istio names no virtualService", rollout.Metadata.Name)
			}
			for _, ref := range refs {
				vs, ok := m.VirtualServices[ref.Name]
				if !ok {
					ps.Add(file, line, "Rollout %s: VirtualService %q is not among the scenario's manifests: add it (the controller fails without it)", rollout.Metadata.Name, ref.Name)
					continue
				}
				checkVirtualService(ps, file, line, m, ref, vs, canary, istio.DestinationRule != nil)
			}
		}
	}
	if pp := canary.PingPong; pp != nil {
		// AR pkg/apis/rollouts/validation/validation.go:268-285.
		routing := canary.TrafficRouting
		alb, plugins := false, false
		if routing != nil {
			_, alb = routing.Other["alb"]
			_, plugins = routing.Other["plugins"]
		}
		if routing != nil && routing.Istio == nil && !alb && !plugins {
			ps.Add(file, line, "Rollout %s: canary.pingPong works only with the ALB or Istio router (or a plugin): the controller rejects it with this router", rollout.Metadata.Name)
		}
		if pp.PingService == "" || pp.PongService == "" {
			ps.Add(file, line, "Rollout %s: canary.pingPong needs pingService and pongService", rollout.Metadata.Name)
		} else if pp.PingService == pp.PongService {
			ps.Add(file, line, "Rollout %s: canary.pingPong pingService and pongService are both %q: name two Services", rollout.Metadata.Name, pp.PingService)
		}
		if alb {
			albSpec := routing.Other["alb"]
			if root := scenario.Lookup(&albSpec, "rootService"); root == nil || root.Value == "" {
				ps.Add(file, line, "Rollout %s: canary.pingPong with ALB needs trafficRouting.alb.rootService (the controller rejects it without)", rollout.Metadata.Name)
			}
		}
	}
	if canary.TrafficRouting == nil && canary.ScaleDownDelaySeconds != nil {
		// AR validation.go ValidateRolloutStrategyCanary: InvalidCanaryScaleDownDelay.
		ps.Add(file, line, "Rollout %s: canary scaleDownDelaySeconds can only be used with traffic routing (the controller rejects it)", rollout.Metadata.Name)
	}
	// AR pkg/apis/rollouts/validation/validation.go:296-306: InvalidCanaryDynamicStableScale
	// and InvalidCanaryDynamicStableScaleWithScaleDownDelay.
	if canary.DynamicStableScale && canary.TrafficRouting == nil {
		ps.Add(file, line, "Rollout %s: canary dynamicStableScale can only be used with traffic routing (the controller rejects it)", rollout.Metadata.Name)
	}
	if canary.DynamicStableScale && canary.TrafficRouting != nil && canary.ScaleDownDelaySeconds != nil {
		ps.Add(file, line, "Rollout %s: canary dynamicStableScale cannot be used with scaleDownDelaySeconds (the controller rejects it)", rollout.Metadata.Name)
	}
	for _, service := range []string{canary.CanaryService, canary.StableService} {
		if service != "" && !m.Services[service] {
			ps.Add(file, line, "Rollout %s: Service %q is not among the scenario's manifests: add it", rollout.Metadata.Name, service)
		}
	}
	if len(canary.Steps) > scenario.MaxSteps {
		ps.Add(file, line, "Rollout %s: spec.strategy.canary.steps holds %d steps: the limit is %d", rollout.Metadata.Name, len(canary.Steps), scenario.MaxSteps)
	}
	for i, step := range canary.Steps {
		stepLine := step.line
		if stepLine == 0 {
			stepLine = line
		}
		// AR pkg/apis/rollouts/validation/validation.go:315-323, 491-510: a step
		// sets at least one action, and at most one of setWeight, pause,
		// experiment and analysis; setCanaryScale, setHeaderRoute,
		// setMirrorRoute and plugin combine with them (the controller
		// completes the step by the first of pause, setCanaryScale,
		// setWeight, experiment, analysis, setHeaderRoute, setMirrorRoute,
		// plugin: AR rollout/canary.go:315-342).
		var exclusive []string
		for _, kind := range []struct {
			name    string
			present bool
		}{{"setWeight", step.SetWeight != nil}, {"pause", step.Pause != nil}, {"experiment", step.Experiment != nil}, {"analysis", step.Analysis != nil}} {
			if kind.present {
				exclusive = append(exclusive, kind.name)
			}
		}
		switch {
		case len(exclusive) > 1:
			ps.Add(file, stepLine, "Rollout %s: step %d sets %s: the controller allows at most one of setWeight, pause, experiment and analysis in a step; split it into one step each",
				rollout.Metadata.Name, i, strings.Join(exclusive, " and "))
		case len(exclusive) == 0 && step.SetCanaryScale == nil && step.SetHeaderRoute == nil && step.SetMirrorRoute == nil && step.Plugin == nil:
			ps.Add(file, stepLine, "Rollout %s: step %d sets nothing: a step needs one of setWeight, pause, analysis, experiment, setCanaryScale, setHeaderRoute, setMirrorRoute or plugin", rollout.Metadata.Name, i)
		}
		checkRouteStep(ps, file, stepLine, rollout.Metadata.Name, i, "setHeaderRoute", step.SetHeaderRoute, canary.TrafficRouting)
		checkRouteStep(ps, file, stepLine, rollout.Metadata.Name, i, "setMirrorRoute", step.SetMirrorRoute, canary.TrafficRouting)
		if step.SetCanaryScale != nil && canary.TrafficRouting == nil {
			// AR validation.go:331-333 InvalidSetCanaryScaleTrafficPolicy.
			ps.Add(file, stepLine, "Rollout %s: step %d setCanaryScale requires trafficRouting (the controller rejects it without): add trafficRouting or use setWeight", rollout.Metadata.Name, i)
		}
		if step.SetWeight != nil && (*step.SetWeight < 0 || *step.SetWeight > maxWeight) {
			ps.Add(file, stepLine, "Rollout %s: step %d setWeight %d is outside 0..%d", rollout.Metadata.Name, i, *step.SetWeight, maxWeight)
		}
		if step.Pause != nil {
			if d, _, err := step.Pause.DurationOf(); err != nil {
				ps.Add(file, stepLine, "Rollout %s: step %d: %v", rollout.Metadata.Name, i, err)
			} else if d < 0 {
				ps.Add(file, stepLine, "Rollout %s: step %d pause duration is negative", rollout.Metadata.Name, i)
			}
		}
		if step.Analysis != nil {
			checkAnalysisRefs(ps, file, stepLine, m, step.Analysis, false)
		}
		if scale := step.SetCanaryScale; scale != nil {
			if scale.Weight != nil && scale.Replicas != nil {
				ps.Add(file, stepLine, "Rollout %s: step %d setCanaryScale sets both weight and replicas", rollout.Metadata.Name, i)
			}
			if scale.Replicas != nil && (*scale.Replicas < 0 || *scale.Replicas > scenario.MaxReplicas) {
				ps.Add(file, stepLine, "Rollout %s: step %d setCanaryScale replicas %d is outside 0..%d", rollout.Metadata.Name, i, *scale.Replicas, scenario.MaxReplicas)
			}
		}
	}
	if canary.Analysis != nil {
		checkAnalysisRefs(ps, file, line, m, &canary.Analysis.RolloutAnalysis, true)
		if start := canary.Analysis.StartingStep; start != nil && (*start < 0 || *start > len(canary.Steps)) {
			ps.Add(file, line, "Rollout %s: analysis.startingStep %d is outside 0..%d", rollout.Metadata.Name, *start, len(canary.Steps))
		}
	}
	replicas := rollout.Replicas()
	for name, value := range map[string]*IntOrString{"maxSurge": canary.MaxSurge, "maxUnavailable": canary.MaxUnavailable} {
		if value != nil {
			if _, err := value.Scaled(replicas, true); err != nil {
				ps.Add(file, line, "Rollout %s: %s: %v", rollout.Metadata.Name, name, err)
			}
		}
	}
	if len(rollout.Spec.Template.Spec.Containers) == 0 && rollout.Spec.WorkloadRef == nil {
		// With workloadRef the template is the Deployment's (Unsupported names it).
		ps.Add(file, line, "Rollout %s: spec.template has no containers", rollout.Metadata.Name)
	}
}

// checkRouteStep checks a setHeaderRoute or setMirrorRoute step as AR
// pkg/apis/rollouts/validation/validation.go:336-391 does: a router that
// has such routes, and a name among trafficRouting.managedRoutes.
func checkRouteStep(ps *Problems, file string, line int, rollout string, index int, kind string, step *RouteStep, routing *TrafficRouting) {
	if step == nil {
		return
	}
	routers := []string{"istio", "alb", "apisix", "plugins"} // setHeaderRoute
	if kind == "setMirrorRoute" {
		routers = []string{"istio", "plugins"}
	}
	hasRouter := false
	if routing != nil {
		for _, router := range routers {
			_, other := routing.Other[router]
			hasRouter = hasRouter || other || (router == "istio" && routing.Istio != nil)
		}
	}
	if !hasRouter {
		ps.Add(file, line, "Rollout %s: step %d %s needs trafficRouting with %s (the controller rejects it otherwise)", rollout, index, kind, strings.Join(routers, ", "))
		return
	}
	managed, ok := routing.Other["managedRoutes"]
	if !ok {
		ps.Add(file, line, "Rollout %s: step %d %s: Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes' (the controller rejects it): list the route's name there", rollout, index, kind)
		return
	}
	for _, route := range managed.Content {
		if node := scenario.Lookup(route, "name"); node != nil && node.Value == step.Name {
			return
		}
	}
	ps.Add(file, line, "Rollout %s: step %d %s names route %q, which is not in trafficRouting.managedRoutes (the controller rejects it): add it there", rollout, index, kind, step.Name)
}

func checkVirtualService(ps *Problems, file string, line int, m *Manifests, ref VirtualServiceRef, vs *VirtualService, canary *Canary, subsets bool) {
	if vs.Spec.HTTP == nil {
		// AR pkg/apis/rollouts/validation/validation_references.go:399-408:
		// without spec.http the HTTP routes are not validated (the
		// controller weights the TLS and TCP routes), but one kind of route
		// is needed.
		if vs.Spec.TLS == nil && vs.Spec.TCP == nil {
			ps.Add(file, line, "VirtualService %s has no http, tls or tcp routes: the controller cannot get any route to weight (\"Unable to get any of the HTTP, TCP or TLS routes for the Istio VirtualService\"); add the route the Rollout manages", ref.Name)
		}
		return
	}
	routes := ref.Routes
	if len(routes) == 0 {
		// AR rollout/trafficrouting/istio/istio.go: with one HTTP route, routes may be omitted.
		if len(vs.Spec.HTTP) != 1 {
			ps.Add(file, line, "VirtualService %s has %d HTTP routes: name the managed ones in trafficRouting.istio.virtualService.routes", ref.Name, len(vs.Spec.HTTP))
			return
		}
	}
	for _, name := range routes {
		found := false
		for _, http := range vs.Spec.HTTP {
			found = found || http.Name == name
		}
		if !found {
			// AR rollout/trafficrouting/istio/istio.go:971-978 getHttpRouteIndexesToPatch.
			ps.Add(file, line, "HTTP route %q is not found in VirtualService %s (its routes: %s): the controller refuses the Rollout",
				name, ref.Name, routeNames(vs))
		}
	}
	// Without canary and stable Services pingPong's Services are the
	// route's destinations (AR rollout/trafficrouting/service_helper.go:16-30).
	canaryService, stableService := canary.CanaryService, canary.StableService
	if canary.PingPong != nil && canaryService == "" && stableService == "" {
		canaryService, stableService = canary.PingPong.PingService, canary.PingPong.PongService
	}
	for _, http := range vs.Spec.HTTP {
		if len(routes) > 0 && !contains(routes, http.Name) {
			continue
		}
		hasCanary, hasStable := false, false
		for _, destination := range http.Route {
			key := destination.Destination.Host
			if subsets {
				key = destination.Destination.Subset
			}
			hasCanary = hasCanary || key == canaryService || (subsets && key != "" && strings.Contains(key, "canary"))
			hasStable = hasStable || key == stableService || (subsets && key != "" && !strings.Contains(key, "canary"))
		}
		if !subsets && (!hasCanary || !hasStable) {
			// AR rollout/trafficrouting/istio/istio.go validateVirtualServiceHTTPRouteDestinations.
			ps.Add(file, line, "VirtualService %s route %q must have destinations for both %s and %s", ref.Name, http.Name, canaryService, stableService)
		}
	}
}

// routeNames lists a VirtualService's HTTP route names for a message.
func routeNames(vs *VirtualService) string {
	var names []string
	for _, http := range vs.Spec.HTTP {
		names = append(names, strconv.Quote(http.Name))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func contains(list []string, value string) bool {
	for _, item := range list {
		if item == value {
			return true
		}
	}
	return false
}

// checkAnalysisRefs checks referenced templates exist and their args resolve.
func checkAnalysisRefs(ps *Problems, file string, line int, m *Manifests, analysis *RolloutAnalysis, background bool) {
	if len(analysis.Templates) == 0 {
		ps.Add(file, line, "Rollout %s: an analysis names no templates", m.Rollout.Metadata.Name)
	}
	passed := map[string]bool{}
	literal := map[string]string{} // args the Rollout passes as values
	for _, arg := range analysis.Args {
		passed[arg.Name] = true
		if arg.Value != nil {
			literal[arg.Name] = *arg.Value
		}
		if arg.ValueFrom != nil && arg.ValueFrom.PodTemplateHashValue != nil {
			if value := *arg.ValueFrom.PodTemplateHashValue; value != "Stable" && value != "Latest" {
				ps.Add(file, line, "Rollout %s: arg %s podTemplateHashValue %q must be Stable or Latest", m.Rollout.Metadata.Name, arg.Name, value)
			}
		}
	}
	for _, ref := range analysis.Templates {
		template := m.Templates[ref.TemplateName]
		kind := "AnalysisTemplate"
		if ref.ClusterScope {
			template, kind = m.Cluster[ref.TemplateName], "ClusterAnalysisTemplate"
		}
		if template == nil {
			ps.Add(file, line, "Rollout %s references %s %q, which is not among the scenario's manifests", m.Rollout.Metadata.Name, kind, ref.TemplateName)
			continue
		}
		for _, arg := range template.Spec.Args {
			// AR utils/analysis/helpers.go:225-231 ResolveArgs: an arg with a
			// value or a valueFrom is resolved.
			if arg.Value == nil && arg.ValueFrom == nil && !passed[arg.Name] {
				tFile, tLine := scenario.SplitPosition(template.where)
				ps.Add(tFile, tLine, "%s %s: arg %q has no value and the Rollout does not pass it: give it a value (or a valueFrom.secretKeyRef) in the template, or pass it in the Rollout's analysis args", kind, ref.TemplateName, arg.Name)
			}
		}
		args := map[string]string{}
		for _, arg := range template.Spec.Args {
			if arg.Value != nil {
				args[arg.Name] = *arg.Value
			}
		}
		maps.Copy(args, literal)
		for _, arg := range template.Spec.Args {
			// A Secret's value wins over a passed one (AR analysis/analysis.go:271-287).
			if arg.ValueFrom != nil && arg.ValueFrom.SecretKeyRef != nil {
				if value, err := m.SecretValue(*arg.ValueFrom.SecretKeyRef); err == nil {
					args[arg.Name] = value
				}
			}
		}
		for _, metric := range template.Spec.Metrics {
			// An interval from args is checked as the run will resolve it.
			if !argRef.MatchString(metric.Interval) {
				continue
			}
			if spec, err := ResolveMetric(Metric{Name: metric.Name, Interval: metric.Interval}, args); err == nil && spec.Interval < MinMeasurementInterval {
				ps.Add(file, line, "Rollout %s: %s %s metric %s: interval %s (from args) is under %s: the controller keeps measurement times in whole seconds, "+
					"so a shorter interval measures at every reconcile, which canarylab does not model", m.Rollout.Metadata.Name, kind, ref.TemplateName, metric.Name,
					spec.Interval, MinMeasurementInterval)
			}
		}
		if !background {
			for _, metric := range template.Spec.Metrics {
				// AR pkg/apis/rollouts/validation/validation_references.go:158-183.
				if metric.Count == nil && metric.Interval != "" {
					tFile, tLine := scenario.SplitPosition(template.where)
					ps.Add(tFile, tLine, "AnalysisTemplate %s has metric %s which runs indefinitely: a step analysis needs a count", ref.TemplateName, metric.Name)
				}
			}
		}
	}
}

// validateTemplate checks a template as AR utils/analysis/factory.go
// ValidateMetric does, and that its conditions and query parse.
func validateTemplate(ps *Problems, document scenario.Document, template *AnalysisTemplate) {
	file, line := document.File, document.Line
	if len(template.Spec.Metrics) == 0 {
		ps.Add(file, line, "%s %s has no metrics", document.Kind, document.Name)
	}
	names := map[string]bool{}
	for _, metric := range template.Spec.Metrics {
		prefix := fmt.Sprintf("%s %s metric %q", document.Kind, document.Name, metric.Name)
		if metric.Name == "" {
			ps.Add(file, line, "%s %s has a metric without a name", document.Kind, document.Name)
		}
		if names[metric.Name] {
			ps.Add(file, line, "%s: duplicate metric name", prefix)
		}
		names[metric.Name] = true
		for field, text := range map[string]string{"interval": metric.Interval, "initialDelay": metric.InitialDelay} {
			if text != "" && !argRef.MatchString(text) {
				if d, err := time.ParseDuration(text); err != nil || d < 0 {
					ps.Add(file, line, "%s: %s %q is not a Go duration", prefix, field, text)
				} else if field == "interval" && d < MinMeasurementInterval {
					ps.Add(file, line, "%s: interval %s is under %s: the controller keeps measurement times in whole seconds, so a shorter interval "+
						"measures at every reconcile, which canarylab does not model; use %s or more", prefix, d, MinMeasurementInterval, MinMeasurementInterval)
				}
			}
		}
		limits := map[string]*IntOrString{"count": metric.Count, "failureLimit": metric.FailureLimit,
			"inconclusiveLimit": metric.InconclusiveLimit, "consecutiveErrorLimit": metric.ConsecutiveErrorLimit,
			"consecutiveSuccessLimit": metric.ConsecutiveSuccessLimit}
		for field, value := range limits {
			if value != nil && !argRef.MatchString(value.Text) {
				if n, err := value.Int(); err != nil {
					ps.Add(file, line, "%s: %s: %v", prefix, field, err)
				} else if n < 0 && !(field == "failureLimit" && n == -1) {
					ps.Add(file, line, "%s: %s %d is negative", prefix, field, n)
				}
			}
		}
		if spec, err := ResolveMetric(metric, nil); err == nil {
			// AR utils/analysis/factory.go ValidateMetric.
			count := 0
			if metric.Count != nil && spec.Count != nil {
				count = *spec.Count
			}
			if count > 1 && metric.Interval == "" {
				ps.Add(file, line, "%s: count %d needs an interval", prefix, count)
			}
			if spec.FailureLimit == -1 && spec.ConsecutiveSuccessLimit == 0 {
				ps.Add(file, line, "%s: failureLimit -1 needs consecutiveSuccessLimit", prefix)
			}
			if count > 0 && count < spec.FailureLimit+spec.ConsecutiveSuccessLimit {
				ps.Add(file, line, "%s: count %d must be at least failureLimit+consecutiveSuccessLimit (%d)", prefix, count, spec.FailureLimit+spec.ConsecutiveSuccessLimit)
			}
			if count > 0 && count < spec.InconclusiveLimit {
				ps.Add(file, line, "%s: count %d must be at least inconclusiveLimit %d", prefix, count, spec.InconclusiveLimit)
			}
		}
		switch {
		case metric.Provider.Prometheus == nil && len(metric.Provider.Other) == 0:
			ps.Add(file, line, "%s has no provider", prefix)
		case metric.Provider.Prometheus != nil && len(metric.Provider.Other) > 0:
			ps.Add(file, line, "%s has more than one provider", prefix)
		case metric.Provider.Prometheus != nil:
			query := argRef.ReplaceAllString(metric.Provider.Prometheus.Query, "x")
			if strings.TrimSpace(query) == "" {
				ps.Add(file, line, "%s: prometheus.query is empty", prefix)
			} else if err := metricstore.ParseExpr(query); err != nil {
				ps.Add(file, line, "%s: prometheus.query does not parse: %v", prefix, err)
			}
		}
		for field, condition := range map[string]string{"successCondition": metric.SuccessCondition, "failureCondition": metric.FailureCondition} {
			if condition == "" {
				continue
			}
			if len(condition) > MaxConditionBytes {
				ps.Add(file, line, "%s: %s is %d bytes long: the limit is %d", prefix, field, len(condition), MaxConditionBytes)
				continue
			}
			if err := CheckCondition(argRef.ReplaceAllString(condition, "0")); err != nil {
				ps.Add(file, line, "%s: %s %q does not compile: %v", prefix, field, condition, err)
			}
		}
	}
}

// Unsupported lists what the manifests use that the sim does not model.
func (m *Manifests) Unsupported() error {
	if standalone := m.StandaloneExperiment(); standalone != "" {
		return fmt.Errorf("%w: %s", ErrUnsupported, standalone)
	}
	var reasons []string
	spec := m.Rollout.Spec
	if spec.WorkloadRef != nil {
		reasons = append(reasons, "spec.workloadRef (a Rollout referencing a Deployment)")
	}
	if spec.Strategy.Canary == nil && spec.Strategy.BlueGreen != nil {
		reasons = append(reasons, "the blueGreen strategy")
	}
	if canary := spec.Strategy.Canary; canary != nil {
		for i, step := range canary.Steps {
			switch {
			case step.Experiment != nil:
				reasons = append(reasons, fmt.Sprintf("step %d: experiment", i))
			case step.Plugin != nil:
				reasons = append(reasons, fmt.Sprintf("step %d: plugin", i))
			}
			if step.SetHeaderRoute != nil {
				reasons = append(reasons, fmt.Sprintf("step %d: setHeaderRoute (the sim does not route by header)", i))
			}
			if step.SetMirrorRoute != nil {
				reasons = append(reasons, fmt.Sprintf("step %d: setMirrorRoute (the sim does not mirror)", i))
			}
		}
		if canary.PingPong != nil {
			reasons = append(reasons, "canary.pingPong (two Services taking turns as stable and canary)")
		}
		if routing := canary.TrafficRouting; routing != nil && routing.Istio != nil {
			refs := routing.Istio.VirtualServices
			if routing.Istio.VirtualService != nil {
				refs = append(refs, *routing.Istio.VirtualService)
			}
			for _, ref := range refs {
				if vs := m.VirtualServices[ref.Name]; vs != nil && vs.Spec.HTTP == nil {
					// The controller skips the HTTP routes and weights the TLS
					// and TCP ones (AR rollout/trafficrouting/istio/istio.go:285-330).
					reasons = append(reasons, fmt.Sprintf("VirtualService %s has no HTTP routes: the controller weights its tls/tcp routes (trafficRouting.istio tlsRoutes/tcpRoutes), which the sim does not route", ref.Name))
				}
			}
		}
		if routing := canary.TrafficRouting; routing != nil {
			for _, name := range slices.Sorted(maps.Keys(routing.Other)) {
				if name == "managedRoutes" {
					reasons = append(reasons, "trafficRouting.managedRoutes (header and mirror routes are not modelled)")
					continue
				}
				reasons = append(reasons, "trafficRouting."+name+" (the sim routes with Istio)")
			}
		}
	}
	reasons = append(reasons, m.unresolvableArgs()...)
	for _, templates := range []map[string]*AnalysisTemplate{m.Templates, m.Cluster} {
		for name, template := range templates {
			for _, metric := range template.Spec.Metrics {
				if _, declared := m.Declared[metric.Name]; declared {
					continue
				}
				for provider := range metric.Provider.Other {
					reasons = append(reasons, fmt.Sprintf("template %s metric %s: provider %s (the sim serves Prometheus; declare its answer under spec.stubs.metrics to run it)", name, metric.Name, provider))
				}
			}
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s; run it with --backend local, which runs the real controller", ErrUnsupported, strings.Join(reasons, "; "))
}

// StandaloneExperiment says why a set whose workload is an Experiment,
// with no Rollout, cannot be replayed; "" for a set with a Rollout. Such an
// Experiment runs its ReplicaSets and analyses on its own (AR
// experiments/experiment.go), and canarylab replays a Rollout's release on
// every backend.
func (m *Manifests) StandaloneExperiment() string {
	if m.RolloutWhere != "" || len(m.Experiments) == 0 {
		return ""
	}
	var names []string
	for _, name := range slices.Sorted(maps.Keys(m.Experiments)) {
		names = append(names, fmt.Sprintf("Experiment %s (%s)", name, m.Experiments[name]))
	}
	return strings.Join(names, ", ") + ": a standalone Experiment, with no Rollout: canarylab replays the release of a Rollout, on every backend; " +
		"an Experiment runs as a Rollout's experiment step (which --backend local runs)"
}

// unresolvableArgs names the template args the Rollout's analyses use
// whose value the AnalysisRun controller cannot resolve: a
// valueFrom.secretKeyRef to a Secret (or key) that is not among the
// manifests, so every run would end Error "Unable to resolve metric
// arguments" (AR analysis/analysis.go:101-108, 271-282), and a template's
// own valueFrom.fieldRef the Rollout does not pass a value for (the
// controller resolves fieldRef only in the Rollout's args, AR
// utils/analysis/factory.go:17-50). The sim does not model an AnalysisRun
// that errors before it measures.
func (m *Manifests) unresolvableArgs() []string {
	canary := m.Rollout.Spec.Strategy.Canary
	if canary == nil {
		return nil
	}
	var analyses []*RolloutAnalysis
	for _, step := range canary.Steps {
		if step.Analysis != nil {
			analyses = append(analyses, step.Analysis)
		}
	}
	if canary.Analysis != nil {
		analyses = append(analyses, &canary.Analysis.RolloutAnalysis)
	}
	var reasons []string
	seen := map[string]bool{}
	for _, analysis := range analyses {
		passed := map[string]bool{}
		for _, arg := range analysis.Args {
			passed[arg.Name] = true
		}
		for _, ref := range analysis.Templates {
			template, kind := m.Templates[ref.TemplateName], "AnalysisTemplate"
			if ref.ClusterScope {
				template, kind = m.Cluster[ref.TemplateName], "ClusterAnalysisTemplate"
			}
			if template == nil {
				continue
			}
			for _, arg := range template.Spec.Args {
				var reason string
				switch from := arg.ValueFrom; {
				case from == nil:
				case from.SecretKeyRef != nil:
					if _, err := m.SecretValue(*from.SecretKeyRef); err != nil {
						reason = fmt.Sprintf("%s %s (%s) arg %s: valueFrom.secretKeyRef: %v among the scenario's manifests, so the real controller's AnalysisRun ends Error "+
							"(\"Unable to resolve metric arguments\"), which the sim does not model; add the Secret to spec.manifests", kind, ref.TemplateName, template.where, arg.Name, err)
					}
				case from.FieldRef != nil && arg.Value == nil && !passed[arg.Name]:
					reason = fmt.Sprintf("%s %s (%s) arg %s: valueFrom.fieldRef in a template, which the controller does not resolve (only the Rollout's args take a fieldRef); pass the arg in the Rollout's analysis args",
						kind, ref.TemplateName, template.where, arg.Name)
				}
				if reason != "" && !seen[reason] {
					seen[reason] = true
					reasons = append(reasons, reason)
				}
			}
		}
	}
	return reasons
}

// Replicas is spec.replicas, default 1 (AR utils/defaults GetReplicasOrDefault).
func (r *Rollout) Replicas() int {
	if r.Spec.Replicas == nil {
		return 1
	}
	return *r.Spec.Replicas
}
