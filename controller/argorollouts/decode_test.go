package argorollouts

import (
	"errors"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/internal/testmanifests"

	"github.com/canarylab/canarylab/scenario"
)

const services = "\n" + testmanifests.IstioServices

const rollout = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 5
  template:
    spec:
      containers: [{name: demo, image: canarylab/demo:blue}]
  strategy:
    canary:
      canaryService: demo-canary
      stableService: demo-stable
      trafficRouting:
        istio:
          virtualService: {name: demo, routes: [primary]}
      steps:
        - setWeight: 20
        - analysis:
            templates: [{templateName: rate}]
            args: [{name: service, value: demo-canary}]
`

func decode(t *testing.T, documents ...string) (*Manifests, error) {
	t.Helper()
	docs, err := scenario.SplitDocuments("manifests.yaml", []byte(strings.Join(documents, "\n---\n")))
	if err != nil {
		t.Fatal(err)
	}
	return Decode(docs)
}

func template(metric string) string {
	return `
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: rate}
spec:
  args: [{name: service}]
  metrics:
` + metric
}

// validTemplate is a template the Rollout above can use as it is.
var validTemplate = template(`
    - name: rate
      interval: 10s
      count: 3
      successCondition: result[0] >= 0.95
      provider:
        prometheus: {query: 'sum(rate(istio_requests_total{destination_service=~"{{args.service}}"}[1m]))'}
`)

func TestDecodeAcceptsAValidSet(t *testing.T) {
	t.Parallel()
	m, err := decode(t, rollout, services, validTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rollout.Replicas() != 5 || len(m.Rollout.Spec.Strategy.Canary.Steps) != 2 || m.Namespace != "default" {
		t.Fatalf("decoded %+v", m.Rollout)
	}
	if err := m.Unsupported(); err != nil {
		t.Fatalf("a plain Istio canary is reported unsupported: %v", err)
	}
}

func TestDecodeReportsWhatTheControllerWouldReject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		docs     []string
		mentions string
	}{
		{"a step analysis that runs forever", []string{rollout, services, template(`
    - name: rate
      interval: 10s
      successCondition: result[0] >= 0.95
      provider: {prometheus: {query: 'up'}}
`)}, "runs indefinitely"},
		{"a condition that does not parse", []string{rollout, services, template(`
    - name: rate
      successCondition: result[0] >=
      provider: {prometheus: {query: 'up'}}
`)}, "does not compile"},
		{"a query that does not parse", []string{rollout, services, template(`
    - name: rate
      provider: {prometheus: {query: 'sum(rate(up[1m]'}}
`)}, "does not parse"},
		{"count below failureLimit", []string{rollout, services, template(`
    - name: rate
      interval: 5s
      count: 2
      failureLimit: 3
      provider: {prometheus: {query: 'up'}}
`)}, "must be at least failureLimit"},
		{"a missing template", []string{rollout, services}, `AnalysisTemplate "rate"`},
		{"a missing VirtualService", []string{rollout, services[:strings.Index(services, "---\napiVersion: networking")], template(`
    - name: rate
      provider: {prometheus: {query: 'up'}}
`)}, `VirtualService "demo"`},
		{"a template arg nobody passes", []string{strings.Replace(rollout, "args: [{name: service, value: demo-canary}]", "args: []", 1), services, template(`
    - name: rate
      provider: {prometheus: {query: 'up'}}
`)}, `arg "service" has no value`},
		{"scaleDownDelaySeconds without traffic routing", []string{basicWithDelay, services}, "scaleDownDelaySeconds can only be used with traffic routing"},
		{"setWeight and pause in one step", []string{strings.Replace(rollout, "- setWeight: 20", "- {setWeight: 20, pause: {}}", 1), services, validTemplate},
			"step 0 sets setWeight and pause: the controller allows at most one of setWeight, pause, experiment and analysis"},
		{"an empty step", []string{strings.Replace(rollout, "- setWeight: 20", "- {}", 1), services, validTemplate}, "step 0 sets nothing"},
		{"setCanaryScale without traffic routing", []string{strings.Replace(basicWithDelay, "scaleDownDelaySeconds: 5\n      steps: [{setWeight: 50}]", "steps: [{setCanaryScale: {replicas: 1}}]", 1)},
			"step 0 setCanaryScale requires trafficRouting"},
		{"setHeaderRoute without managedRoutes", []string{strings.Replace(rollout, "- setWeight: 20", "- setHeaderRoute: {name: header, match: [{headerName: x, headerValue: {exact: debug}}]}", 1), services, validTemplate},
			"Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'"},
		{"setMirrorRoute naming an unmanaged route", []string{strings.Replace(strings.Replace(rollout, "- setWeight: 20", "- setMirrorRoute: {name: mirror}", 1),
			"        istio:\n", "        managedRoutes: [{name: header}]\n        istio:\n", 1), services, validTemplate},
			`setMirrorRoute names route "mirror", which is not in trafficRouting.managedRoutes`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := decode(t, tc.docs...)
			if !errors.Is(err, scenario.ErrInvalid) {
				t.Fatalf("got %v, want an invalid-input error", err)
			}
			if !strings.Contains(err.Error(), tc.mentions) || !strings.Contains(err.Error(), "manifests.yaml:") {
				t.Fatalf("error does not say %q with file:line:\n%v", tc.mentions, err)
			}
		})
	}
}

func TestUnsupportedIsSaidPlainly(t *testing.T) {
	t.Parallel()
	blueGreen := `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  template:
    spec:
      containers: [{name: demo, image: canarylab/demo:blue}]
  strategy:
    blueGreen: {activeService: demo-stable}
`
	m, err := decode(t, blueGreen)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unsupported(); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "blueGreen") {
		t.Fatalf("blueGreen: %v", err)
	}
	// A Rollout that takes its template from a Deployment decodes (as the
	// upstream workload-ref example) and is refused by name.
	workloadRef := `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: demo}
  strategy:
    canary:
      steps: [{setWeight: 20}]
`
	m, err = decode(t, workloadRef)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unsupported(); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "spec.workloadRef") {
		t.Fatalf("workloadRef: %v", err)
	}
	dynamic := strings.Replace(rollout, "      canaryService: demo-canary\n", "      canaryService: demo-canary\n      dynamicStableScale: true\n", 1)
	m, err = decode(t, dynamic, services, validTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unsupported(); err != nil {
		t.Fatalf("dynamicStableScale is modelled: %v", err)
	}
	// The controller's validation: only with traffic routing, never with scaleDownDelaySeconds.
	withDelay := strings.Replace(dynamic, "      dynamicStableScale: true\n", "      dynamicStableScale: true\n      scaleDownDelaySeconds: 5\n", 1)
	if _, err := decode(t, withDelay, services, validTemplate); err == nil || !strings.Contains(err.Error(), "dynamicStableScale cannot be used with scaleDownDelaySeconds") {
		t.Errorf("dynamicStableScale with scaleDownDelaySeconds: %v", err)
	}
	basic := strings.Replace(dynamic, "      trafficRouting:\n        istio:\n          virtualService: {name: demo, routes: [primary]}\n", "", 1)
	if _, err := decode(t, basic, services, validTemplate); err == nil || !strings.Contains(err.Error(), "dynamicStableScale can only be used with traffic routing") {
		t.Errorf("dynamicStableScale without traffic routing: %v", err)
	}
}

const basicWithDelay = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 2
  template:
    spec:
      containers: [{name: demo, image: canarylab/demo:blue}]
  strategy:
    canary:
      scaleDownDelaySeconds: 5
      steps: [{setWeight: 50}]
`

// Istio subset-level routing (a DestinationRule) needs no canary and stable
// Services (AR validation.go requireCanaryStableServices).
func TestDestinationRuleNeedsNoServices(t *testing.T) {
	t.Parallel()
	withSubsets := `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 2
  template:
    spec:
      containers: [{name: demo, image: canarylab/demo:blue}]
  strategy:
    canary:
      trafficRouting:
        istio:
          virtualService: {name: demo, routes: [primary]}
          destinationRule: {name: demo, canarySubsetName: canary, stableSubsetName: stable}
      steps: [{setWeight: 50}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: demo}
spec:
  http:
    - name: primary
      route:
        - destination: {host: demo, subset: stable}
          weight: 100
        - destination: {host: demo, subset: canary}
          weight: 0
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: demo}
spec:
  host: demo
  subsets: [{name: stable, labels: {app: demo}}, {name: canary, labels: {app: demo}}]
---
apiVersion: v1
kind: Service
metadata: {name: demo}
`
	if _, err := decode(t, withSubsets); err != nil {
		t.Fatalf("subset routing without canary/stable Services was refused: %v", err)
	}
}

// A route the Rollout names that the VirtualService does not have is
// refused, as the controller refuses it (a misspelt or renamed route).
func TestManagedRouteMustExist(t *testing.T) {
	t.Parallel()
	renamed := strings.Replace(rollout, "routes: [primary]", "routes: [main]", 1)
	_, err := decode(t, renamed, services, validTemplate)
	if !errors.Is(err, scenario.ErrInvalid) || !strings.Contains(err.Error(), `HTTP route "main" is not found in VirtualService demo (its routes: "primary")`) {
		t.Errorf("err = %v", err)
	}
}

// A template arg with valueFrom.secretKeyRef is resolved by the AnalysisRun
// controller (AR utils/analysis/helpers.go:225-231): valid input. Without
// its Secret the sim refuses the set by the Secret's name.
func TestTemplateArgFromSecretIsValid(t *testing.T) {
	t.Parallel()
	fromSecret := strings.Replace(validTemplate, "args: [{name: service}]", "args: [{name: service, valueFrom: {secretKeyRef: {name: analysis, key: service}}}]", 1)
	noArgs := strings.Replace(rollout, "args: [{name: service, value: demo-canary}]", "args: []", 1)
	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: analysis}\nstringData: {service: demo-canary}\n"
	m, err := decode(t, noArgs, services, fromSecret, secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unsupported(); err != nil {
		t.Errorf("with its Secret: %v", err)
	}
	if value, err := m.SecretValue(SecretKeyRef{Name: "analysis", Key: "service"}); err != nil || value != "demo-canary" {
		t.Errorf("SecretValue = %q, %v", value, err)
	}
	m, err = decode(t, noArgs, services, fromSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unsupported(); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `arg service: valueFrom.secretKeyRef: secrets "analysis" not found among the scenario's manifests`) {
		t.Errorf("without its Secret: %v", err)
	}
}

// Upstream forbids only combining setWeight, pause, experiment and analysis
// in one step (AR pkg/apis/rollouts/validation/validation.go:491-510): a
// step with setCanaryScale and setHeaderRoute (examples/apisix) is valid,
// and the sim refuses the header route by name.
func TestStepsCombineAsUpstreamAllows(t *testing.T) {
	t.Parallel()
	scaleAndWeight := strings.Replace(rollout, "- setWeight: 20", "- {setWeight: 20, setCanaryScale: {replicas: 2}}", 1)
	m, err := decode(t, scaleAndWeight, services, validTemplate)
	if err != nil {
		t.Fatalf("setWeight with setCanaryScale: %v", err)
	}
	if err := m.Unsupported(); err != nil {
		t.Errorf("setWeight with setCanaryScale: %v", err)
	}
	headers := strings.Replace(strings.Replace(rollout, "- setWeight: 20", "- {setCanaryScale: {replicas: 1}, setHeaderRoute: {name: header, match: [{headerName: x, headerValue: {exact: debug}}]}}", 1),
		"        istio:\n", "        managedRoutes: [{name: header}]\n        istio:\n", 1)
	m, err = decode(t, headers, services, validTemplate)
	if err != nil {
		t.Fatalf("setCanaryScale with setHeaderRoute: %v", err)
	}
	if err := m.Unsupported(); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "step 0: setHeaderRoute") || !strings.Contains(err.Error(), "trafficRouting.managedRoutes") {
		t.Errorf("setCanaryScale with setHeaderRoute: %v", err)
	}
}

// A VirtualService without spec.http: the controller does not validate HTTP
// routes and weights the TLS routes (AR rollout/trafficrouting/istio/istio.go:285-330,
// validation_references.go:399-408). Valid, and refused by the sim by name;
// one without any route is invalid.
func TestTLSOnlyVirtualService(t *testing.T) {
	t.Parallel()
	tlsOnly := strings.Replace(services, `  http:
    - name: primary
      route:`, `  tls:
    - match: [{port: 3000, sniHosts: [demo]}]
      route:`, 1)
	m, err := decode(t, rollout, tlsOnly, validTemplate)
	if err != nil {
		t.Fatalf("a TLS-only VirtualService: %v", err)
	}
	if err := m.Unsupported(); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "VirtualService demo has no HTTP routes") || !strings.Contains(err.Error(), "tlsRoutes/tcpRoutes") {
		t.Errorf("a TLS-only VirtualService: %v", err)
	}
	noRoutes := services[:strings.Index(services, "  http:")] + "  hosts: [demo]\n"
	if _, err := decode(t, rollout, noRoutes, validTemplate); !errors.Is(err, scenario.ErrInvalid) || !strings.Contains(err.Error(), "VirtualService demo has no http, tls or tcp routes") {
		t.Errorf("a VirtualService without routes: %v", err)
	}
}

// pingPong replaces canaryService and stableService with ALB or Istio (AR
// pkg/apis/rollouts/validation/validation.go:241-285): valid, refused by
// the sim by name; its own rules stay invalid input.
func TestPingPongNeedsNoCanaryAndStableServices(t *testing.T) {
	t.Parallel()
	pingPong := strings.Replace(rollout, "      canaryService: demo-canary\n      stableService: demo-stable\n",
		"      pingPong: {pingService: demo-canary, pongService: demo-stable}\n", 1)
	m, err := decode(t, pingPong, services, validTemplate)
	if err != nil {
		t.Fatalf("pingPong: %v", err)
	}
	if err := m.Unsupported(); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "canary.pingPong") {
		t.Errorf("pingPong: %v", err)
	}
	same := strings.Replace(pingPong, "pongService: demo-stable", "pongService: demo-canary", 1)
	if _, err := decode(t, same, services, validTemplate); !errors.Is(err, scenario.ErrInvalid) || !strings.Contains(err.Error(), `pingService and pongService are both "demo-canary"`) {
		t.Errorf("one Service for ping and pong: %v", err)
	}
	noServices := strings.Replace(rollout, "      canaryService: demo-canary\n      stableService: demo-stable\n", "", 1)
	if _, err := decode(t, noServices, services, validTemplate); !errors.Is(err, scenario.ErrInvalid) || !strings.Contains(err.Error(), "needs canaryService and stableService") {
		t.Errorf("Istio host routing without Services: %v", err)
	}
}

// A set whose only workload is an Experiment (examples/experiment-with-analysis)
// is valid input the controller runs; canarylab replays Rollouts, so it is
// refused naming the Experiment.
func TestStandaloneExperimentIsRefused(t *testing.T) {
	t.Parallel()
	experiment := `apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: probe}
spec:
  duration: 1m
  templates:
    - name: baseline
      selector: {matchLabels: {app: probe}}
      template:
        metadata: {labels: {app: probe}}
        spec:
          containers: [{name: demo, image: canarylab/demo:blue}]
`
	m, err := decode(t, experiment)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unsupported(); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Experiment probe (manifests.yaml:1): a standalone Experiment, with no Rollout") {
		t.Errorf("a standalone Experiment: %v", err)
	}
	if m, err := decode(t, rollout, services, validTemplate, experiment); err != nil || m.StandaloneExperiment() != "" {
		t.Errorf("an Experiment beside a Rollout: %v, %q", err, m.StandaloneExperiment())
	}
}
