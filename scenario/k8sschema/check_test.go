package k8sschema_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/scenario/k8sschema"
)

func documents(t *testing.T, path string) []scenario.Document {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return splitDocuments(t, path, data)
}

func splitDocuments(t *testing.T, path string, data []byte) []scenario.Document {
	t.Helper()
	docs, err := scenario.SplitDocuments(path, data)
	if err != nil {
		t.Fatalf("%s does not split into documents: %v", path, err)
	}
	return docs
}

func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var invalid *scenario.InvalidError
	if !errors.As(err, &invalid) {
		t.Fatalf("error of type %T, not *scenario.InvalidError: %v", err, err)
	}
	var lines []string
	for _, problem := range invalid.Problems {
		lines = append(lines, problem.String())
	}
	return lines
}

// celSkipped is the API server's note when a CRD's CEL rules did not run
// because the object failed its schema.
const celSkipped = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"

// Every problem is reported at once, at the line of the offending field in
// its file, naming the field path and what is wrong.
func TestCheckReportsEveryProblemAtItsLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want []string
	}{
		{"invalid-rollout.yaml", []string{
			`:1: Rollout demo: ` + celSkipped,
			`:6: Rollout demo: spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`,
			`:7: Rollout demo: unknown field "spec.flavour": spec in the schema of rollouts.argoproj.io/v1alpha1 has no field flavour; remove it or check where it belongs`,
			`:19: Rollout demo: unknown field "spec.template.spec.containers[0].imagePullPolcy": did you mean imagePullPolicy?`,
			`:21: Rollout demo: spec.template.spec.containers[0].ports[0].containerPort: Invalid value: "string": spec.template.spec.containers[0].ports[0].containerPort in body must be of type integer: "string"`,
			`:24: Rollout demo: unknown field "spec.strategy.canary.canarySevice": did you mean canaryService?`,
			`:28: Rollout demo: unknown field "spec.strategy.canary.steps[1].pause.duraton": did you mean duration?`,
		}},
		{"invalid-analysistemplate.yaml", []string{
			`:9: AnalysisTemplate success-rate: unknown field "spec.metrics[0].sucessCondition": did you mean successCondition?`,
			`:13: AnalysisTemplate success-rate: unknown field "spec.metrics[0].provider.prometheus.adress": did you mean address?`,
		}},
		// Flagger's CRD wants interval, threshold and one of iterations,
		// stepWeight or stepWeights: with stepWeight misspelt, none fits.
		{"invalid-canary.yaml", []string{
			`:1: Canary podinfo: ` + celSkipped,
			`:13: Canary podinfo: Invalid value: "": "spec.analysis" must validate one and only one schema (oneOf). Found none valid`,
			`:13: Canary podinfo: spec.analysis.iterations: Required value`,
			`:17: Canary podinfo: unknown field "spec.analysis.stepWieght": did you mean stepWeight?`,
			`:21: Canary podinfo: unknown field "spec.analysis.metrics[0].intervall": did you mean interval?`,
		}},
		// The query is required: once the misspelt one is pruned, it is missing.
		{"invalid-metrictemplate.yaml", []string{
			`:5: MetricTemplate error-rate: spec.query: Required value`,
			`:8: MetricTemplate error-rate: unknown field "spec.provider.adress": did you mean address?`,
			`:9: MetricTemplate error-rate: unknown field "spec.querry": did you mean query?`,
		}},
		{"invalid-virtualservice.yaml", []string{
			`:1: VirtualService demo: ` + celSkipped,
			`:11: VirtualService demo: unknown field "spec.http[0].route[0].wieght": did you mean weight?`,
			`:13: VirtualService demo: spec.http[0].route[1].weight: Invalid value: "string": spec.http[0].route[1].weight in body must be of type integer: "string"`,
		}},
		{"invalid-deployment.yaml", []string{
			`:18: Deployment podinfo: unknown field "spec.template.spec.containers[0].resoures": did you mean resources?`,
			`:22: Deployment podinfo: spec.template.spec.containers[0].env[0].value: expected a string, got boolean true (kubectl reads an unquoted yes as YAML 1.1, a boolean: quote it if a string is meant)`,
		}},
	}
	for _, test := range tests {
		t.Run(test.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", test.file)
			got := problemsOf(t, k8sschema.Check(documents(t, path)))
			var want []string
			for _, line := range test.want {
				want = append(want, path+line)
			}
			if !slices.Equal(got, want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// Manifests as teams write them for the real controllers pass: full pod
// templates (resources, probes, env, ports, volumes), analysis, Istio
// routing, Flagger with its target, HPA and MetricTemplate.
func TestCheckPassesValidManifests(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/valid-*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid manifests: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			docs := documents(t, file)
			for _, document := range docs {
				if !k8sschema.Known(document.APIVersion, document.Kind) {
					t.Errorf("%s: %s %s is not judged: its type is missing from the table", document.Where(), document.APIVersion, document.Kind)
				}
			}
			if problems := problemsOf(t, k8sschema.Check(docs)); len(problems) > 0 {
				t.Errorf("valid manifests were refused:\n%s", strings.Join(problems, "\n"))
			}
		})
	}
}

// Every manifest the catalog, the conformance suite, the labs and the sim's
// tests replay is judged, and passes (a failure here is either a bug in that
// manifest or in the check).
func TestCheckPassesTheRepositoryManifests(t *testing.T) {
	t.Parallel()
	judged := 0
	var files []string
	for _, root := range []string{"../../manifests", "../../labs", "../../sim/testdata", "../../scenario/testdata"} {
		err := filepath.WalkDir(root, func(path string, entry os.DirEntry, err error) error {
			if err == nil && !entry.IsDir() && filepath.Ext(path) == ".yaml" && !strings.HasPrefix(entry.Name(), "invalid") {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := scenario.SplitDocuments(path, data)
		if err != nil {
			continue // not a manifest file
		}
		for _, document := range docs {
			if k8sschema.Known(document.APIVersion, document.Kind) {
				judged++
			}
		}
		if problems := problemsOf(t, k8sschema.Check(docs)); len(problems) > 0 {
			t.Errorf("%s is refused:\n%s", path, strings.Join(problems, "\n"))
		}
	}
	if judged < 50 {
		t.Errorf("judged %d documents in the repository; expected the catalog's manifests (50 or more)", judged)
	}
}

func TestCheckEdgeCases(t *testing.T) {
	t.Parallel()
	const rollout = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: demo\n"
	const canary = "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: c\nspec:\n" +
		"  targetRef: {apiVersion: apps/v1, kind: Deployment, name: d}\n  service: {port: 80}\n"
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"a kind with no known schema is left alone",
			"apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  anything: [goes]\n", nil},
		{"another project's kind in a shared group is left alone",
			"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: a\nspec:\n  anything: [goes]\n", nil},
		{"a version the CRD does not serve is refused, as kubectl would",
			"apiVersion: argoproj.io/v1beta9\nkind: Rollout\nmetadata:\n  name: demo\nspec:\n  flavour: vanilla\n",
			[]string{`m.yaml:1: Rollout demo: no matches for kind "Rollout" in version "argoproj.io/v1beta9": the CRD rollouts.argoproj.io (github.com/argoproj/argo-rollouts@v1.10.1/manifests/crds/rollout-crd.yaml) does not serve that version; it serves argoproj.io/v1alpha1`}},
		{"a field given twice",
			rollout + "spec:\n  replicas: 1\n  replicas: 2\n",
			[]string{`m.yaml:7: Rollout demo: duplicate field "spec.replicas": a field is given once`}},
		{"case matters, as to the API server",
			rollout + "spec:\n  Replicas: 1\n",
			[]string{`m.yaml:6: Rollout demo: unknown field "spec.Replicas": did you mean replicas?`}},
		{"a misspelt metadata field",
			rollout + "  lables: {app: demo}\nspec: {}\n",
			[]string{`m.yaml:5: Rollout demo: unknown field "metadata.lables": did you mean labels?`}},
		{"every wrong type, not only the first",
			rollout + "spec:\n  replicas: \"3\"\n  paused: maybe\n  minReadySeconds: [1]\n",
			[]string{
				`m.yaml:1: Rollout demo: ` + celSkipped,
				`m.yaml:6: Rollout demo: spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`,
				`m.yaml:7: Rollout demo: spec.paused: Invalid value: "string": spec.paused in body must be of type boolean: "string"`,
				`m.yaml:8: Rollout demo: spec.minReadySeconds: Invalid value: "array": spec.minReadySeconds in body must be of type integer: "array"`,
			}},
		// x-kubernetes-int-or-string has no properties: the pruner drops
		// value, and the object is then neither an integer nor a string.
		{"an int-or-string given an object",
			rollout + "spec:\n  strategy:\n    canary:\n      maxSurge: {value: 1}\n",
			[]string{
				`m.yaml:1: Rollout demo: ` + celSkipped,
				`m.yaml:8: Rollout demo: unknown field "spec.strategy.canary.maxSurge.value": spec.strategy.canary.maxSurge in the schema of rollouts.argoproj.io/v1alpha1 has no field value; remove it or check where it belongs`,
				`m.yaml:8: Rollout demo: spec.strategy.canary.maxSurge: Invalid value: "object": spec.strategy.canary.maxSurge in body must be of type integer,string: "object"`,
				`m.yaml:8: Rollout demo: Invalid value: "": "spec.strategy.canary.maxSurge" must validate at least one schema (anyOf)`,
				`m.yaml:8: Rollout demo: spec.strategy.canary.maxSurge: Invalid value: "object": spec.strategy.canary.maxSurge in body must be of type integer: "object"`,
			}},
		{"a quantity that is not one",
			"apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports: [{port: 80, targetPort: http}]\n---\n" +
				"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n" +
				"        - name: c\n          resources: {limits: {memory: lots}}\n",
			[]string{`m.yaml:17: Deployment d: spec.template.spec.containers[0].resources.limits.memory: expected a quantity (such as 250m, 1.5 or 1Gi), got string "lots"`}},
		// Argo Rollouts' CRD keeps a pod template's resources as they come
		// (x-kubernetes-preserve-unknown-fields): the API server stores the
		// bad quantity and the controller's tolerant informer reads past it.
		{"a quantity the CRD lets through and the controller reads past",
			rollout + "spec:\n  template:\n    spec:\n      containers:\n        - name: c\n          resources: {limits: {memory: lots}}\n",
			nil},
		{"aliases and merge keys are read as kubectl reads them",
			rollout + "spec:\n  template:\n    metadata:\n      labels: &labels {app: demo}\n  selector:\n    matchLabels: *labels\n" +
				"  strategy:\n    canary:\n      steps:\n        - &step {setWeight: 10}\n        - <<: *step\n          pause: {}\n", nil},
		{"YAML 1.1 words that are booleans to kubectl",
			rollout + "spec:\n  template:\n    metadata:\n      labels: {app: demo, canary: on}\n",
			[]string{
				`m.yaml:1: Rollout demo: ` + celSkipped,
				`m.yaml:8: Rollout demo: spec.template.metadata.labels.canary: Invalid value: "boolean": spec.template.metadata.labels.canary in body must be of type string: "boolean" (kubectl reads an unquoted on as YAML 1.1, a boolean: quote it if a string is meant)`,
			}},
		{"YAML 1.1 words in the object's own metadata",
			"apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: demo\n  labels: {canary: yes}\nspec: {}\n",
			[]string{`m.yaml:5: Rollout demo: metadata.labels.canary: expected a string, got boolean true (kubectl reads an unquoted yes as YAML 1.1, a boolean: quote it if a string is meant)`}},
		{"numbers in other notations",
			rollout + "spec:\n  template:\n    metadata:\n      labels: {app: demo, zone: 0x1F}\n",
			[]string{
				`m.yaml:1: Rollout demo: ` + celSkipped,
				`m.yaml:8: Rollout demo: spec.template.metadata.labels.zone: Invalid value: "integer": spec.template.metadata.labels.zone in body must be of type string: "integer"`,
			}},
		{"an Istio enum outside its values",
			"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: d\nspec:\n  host: d\n  trafficPolicy:\n    loadBalancer: {simple: ROUND_ROBBIN}\n",
			[]string{
				`m.yaml:1: DestinationRule d: ` + celSkipped,
				`m.yaml:8: DestinationRule d: spec.trafficPolicy.loadBalancer.simple: Unsupported value: "ROUND_ROBBIN": supported values: "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"`,
			}},
		{"an Istio duration given a number",
			"apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata:\n  name: v\nspec:\n  http:\n    - timeout: 5\n",
			[]string{
				`m.yaml:1: VirtualService v: ` + celSkipped,
				`m.yaml:7: VirtualService v: spec.http[0].timeout: Invalid value: "integer": spec.http[0].timeout in body must be of type string: "integer"`,
			}},
		{"a NaN, which no JSON body carries",
			canary + "  analysis:\n    interval: 1m\n    threshold: 2\n    iterations: 3\n    metrics:\n      - name: m\n        thresholdRange: {min: .nan}\n",
			[]string{
				`m.yaml:1: Canary c: ` + celSkipped,
				`m.yaml:14: Canary c: spec.analysis.metrics[0].thresholdRange.min: Invalid value: "string": spec.analysis.metrics[0].thresholdRange.min in body must be of type number: "string" (JSON has no NaN or infinity: kubectl cannot send it)`,
			}},
		// Flagger's CRD types the analysis integers as numbers.
		{"a number the CRD takes and Flagger cannot decode",
			canary + "  analysis:\n    interval: 1m\n    threshold: 2.5\n    iterations: 3\n",
			[]string{`m.yaml:10: Canary c: spec.analysis.threshold: expected an integer, got number 2.5: the API server accepts it (the CRD's schema lets it through), but Flagger cannot decode it`}},
		// Flagger's types have a match's uri; its CRD does not.
		{"a field the controller's types have and its CRD does not",
			canary + "  analysis:\n    interval: 1m\n    threshold: 2\n    iterations: 3\n    match:\n      - uri: {prefix: /api}\n",
			[]string{`m.yaml:13: Canary c: unknown field "spec.analysis.match[0].uri": spec.analysis.match[0] in the schema of canaries.flagger.app/v1beta1 has no field uri; remove it or check where it belongs`}},
		{"an alias that holds itself is refused, not expanded for ever",
			rollout + "spec: &spec {template: *spec}\n",
			[]string{`m.yaml:1: Rollout demo: the document nests deeper than 200 levels or expands to more than 200000 values (YAML aliases?): refused rather than expanded`}},
		{"null is no value, as to the API server",
			rollout + "spec:\n  replicas: null\n  strategy: ~\n", nil},
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

// Both controller models refuse manifests the API server would refuse,
// before decoding them, with an *InvalidError (exit 2).
func TestDecodeRefusesWhatTheAPIServerRefuses(t *testing.T) {
	t.Parallel()
	rollout := documents(t, "testdata/invalid-rollout.yaml")
	if _, err := argorollouts.Decode(rollout); !errors.Is(err, scenario.ErrInvalid) ||
		!strings.Contains(err.Error(), `testdata/invalid-rollout.yaml:24: Rollout demo: unknown field "spec.strategy.canary.canarySevice": did you mean canaryService?`) {
		t.Errorf("argorollouts.Decode: %v", err)
	}
	canary := append(documents(t, "testdata/invalid-canary.yaml"), documents(t, "testdata/invalid-deployment.yaml")...)
	_, err := flagger.Decode(canary)
	if !errors.Is(err, scenario.ErrInvalid) {
		t.Fatalf("flagger.Decode: %v", err)
	}
	for _, want := range []string{"invalid-canary.yaml:17:", "invalid-deployment.yaml:18:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("flagger.Decode does not report %s:\n%v", want, err)
		}
	}
}
