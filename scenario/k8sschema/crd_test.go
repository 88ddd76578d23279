package k8sschema_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/scenario/k8sschema"
)

// Custom resources are judged by their CRDs' schemas from the pinned
// modules, as the API server judges a create with strict field validation:
// unknown fields (with a did-you-mean), types, enums, oneOf, the CEL rules
// and the served versions, each at its line.
func TestCheckJudgesCustomResourcesByTheirCRDs(t *testing.T) {
	t.Parallel()
	const (
		rollout = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: demo\nspec:\n"
		gateway = "kind: Gateway\nmetadata:\n  name: public\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n" +
			"    - port: {number: 443, name: https, protocol: HTTPS}\n      hosts: [\"*.example.com\"]\n"
	)
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"a misspelt Rollout field, with the field meant",
			rollout + "  strategy:\n    canary:\n      canarySevice: demo-canary\n      stableService: demo-stable\n",
			[]string{`m.yaml:8: Rollout demo: unknown field "spec.strategy.canary.canarySevice": did you mean canaryService?`}},
		{"a field of the wrong type",
			rollout + "  revisionHistoryLimit: ten\n",
			[]string{
				`m.yaml:1: Rollout demo: ` + celSkipped,
				`m.yaml:6: Rollout demo: spec.revisionHistoryLimit: Invalid value: "string": spec.revisionHistoryLimit in body must be of type integer: "string"`,
			}},
		{"an enum violation",
			"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: d\nspec:\n  host: d\n" +
				"  trafficPolicy:\n    tls: {mode: MUTUAL_TLS}\n",
			[]string{
				`m.yaml:1: DestinationRule d: ` + celSkipped,
				`m.yaml:8: DestinationRule d: spec.trafficPolicy.tls.mode: Unsupported value: "MUTUAL_TLS": supported values: "DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"`,
			}},
		{"a VirtualService v1alpha3",
			"apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata:\n  name: v\nspec:\n  hosts: [demo]\n  http:\n" +
				"    - route:\n        - {destination: {host: demo-stable}, weight: 90}\n        - {destination: {host: demo-canary}, weight: 10}\n      timeout: 5s\n", nil},
		{"a VirtualService v1",
			"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: v\nspec:\n  hosts: [demo]\n  http:\n" +
				"    - match: [{headers: {x-canary: {exact: \"true\"}}}]\n      route: [{destination: {host: demo-canary}}]\n" +
				"    - route: [{destination: {host: demo-stable, port: {number: 80}}}]\n      retries: {attempts: 3, perTryTimeout: 2s}\n", nil},
		{"an Istio CEL rule: a timeout under 1ms",
			"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: v\nspec:\n  hosts: [demo]\n  http:\n" +
				"    - route: [{destination: {host: demo}}]\n      timeout: 0.5ms\n",
			[]string{`m.yaml:9: VirtualService v: spec.http[0].timeout: Invalid value: "0.5ms": must be a valid duration greater than 1ms`}},
		{"a Flagger Canary with an unknown field",
			"apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: c\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: d}\n" +
				"  service: {port: 80, gatways: [public]}\n  analysis: {interval: 1m, threshold: 2, iterations: 3}\n",
			[]string{`m.yaml:7: Canary c: unknown field "spec.service.gatways": did you mean gateways?`}},
		{"an Istio Gateway",
			"apiVersion: networking.istio.io/v1\n" + gateway + "      tls: {mode: SIMPLE, credentialName: example-cert}\n", nil},
		{"an Istio Gateway with two kinds of credentials (a CEL rule)",
			"apiVersion: networking.istio.io/v1beta1\n" + gateway + "      tls: {mode: SIMPLE, credentialName: a, credentialNames: [b]}\n",
			[]string{`m.yaml:10: Gateway public: spec.servers[0].tls: Invalid value: only one of credentialName or credentialNames can be set`}},
		{"an Istio Gateway with a misspelt field",
			"apiVersion: networking.istio.io/v1\n" + gateway + "      tsl: {mode: SIMPLE}\n",
			[]string{`m.yaml:10: Gateway public: unknown field "spec.servers[0].tsl": did you mean tls?`}},
		{"an apiVersion the CRD does not serve",
			"apiVersion: flagger.app/v1alpha1\nkind: Canary\nmetadata:\n  name: c\nspec: {}\n",
			[]string{`m.yaml:1: Canary c: no matches for kind "Canary" in version "flagger.app/v1alpha1": the CRD canaries.flagger.app (github.com/fluxcd/flagger@v1.44.0/artifacts/flagger/crd.yaml) does not serve that version; it serves flagger.app/v1beta1`}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			t.Parallel()
			got := problemsOf(t, k8sschema.Check(splitDocuments(t, "m.yaml", []byte(test.yaml))))
			if !slices.Equal(got, test.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(test.want, "\n"))
			}
		})
	}
}
