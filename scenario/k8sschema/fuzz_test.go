package k8sschema_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/scenario/k8sschema"
)

// The fuzz targets feed arbitrary YAML as the body of one kind's manifest
// (the apiVersion and kind are fixed, so that mutations explore the kind's
// fields) through the scenario loader, the check and both controller
// models. Whatever the bytes, nothing panics and every error is an
// *InvalidError whose problems have a message and a sane line.

func FuzzRolloutManifest(f *testing.F) {
	fuzzManifest(f, scenario.ControllerArgoRollouts, "argoproj.io/v1alpha1", "Rollout")
}

func FuzzAnalysisTemplateManifest(f *testing.F) {
	fuzzManifest(f, scenario.ControllerArgoRollouts, "argoproj.io/v1alpha1", "AnalysisTemplate")
}

func FuzzVirtualServiceManifest(f *testing.F) {
	fuzzManifest(f, scenario.ControllerArgoRollouts, "networking.istio.io/v1beta1", "VirtualService")
}

func FuzzCanaryManifest(f *testing.F) {
	fuzzManifest(f, scenario.ControllerFlagger, "flagger.app/v1beta1", "Canary")
}

func FuzzMetricTemplateManifest(f *testing.F) {
	fuzzManifest(f, scenario.ControllerFlagger, "flagger.app/v1beta1", "MetricTemplate")
}

func FuzzDeploymentManifest(f *testing.F) {
	fuzzManifest(f, scenario.ControllerFlagger, "apps/v1", "Deployment")
}

func fuzzManifest(f *testing.F, controller, apiVersion, kind string) {
	header := "apiVersion: " + apiVersion + "\nkind: " + kind + "\n"
	for _, body := range seedBodies(f, kind) {
		f.Add([]byte(body))
	}
	f.Add([]byte("metadata: {name: x}\nspec: &a {template: *a}\n"))
	f.Add([]byte("metadata: {name: x}\nspec: [1, {a: b}]\n"))
	f.Add([]byte("metadata:\n  name: x\nspec:\n  <<: [{replicas: 1}, {}]\n  status: ~\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		manifest := append([]byte(header), body...)

		// The loader, as a scenario file naming the manifest.
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "manifest.yaml"), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		scenarioFile := filepath.Join(dir, "scenario.yaml")
		sc, err := scenario.Parse(scenarioFile, []byte("apiVersion: canarylab.dev/v1alpha1\nkind: Scenario\nmetadata: {name: fuzz}\n"+
			"spec:\n  controller: "+controller+"\n  manifests: [manifest.yaml]\n  stable: canarylab/demo:blue\n  release: canarylab/demo:green\n"+
			"  expect: {outcome: promoted}\n"))
		saneError(t, err)
		if sc != nil {
			_, err := argorollouts.Decode(sc.Documents)
			saneError(t, err)
			_, err = flagger.Decode(sc.Documents)
			saneError(t, err)
		}

		// Every document, whatever the controller would let through.
		documents, err := scenario.SplitDocuments(filepath.Join(dir, "manifest.yaml"), manifest)
		saneError(t, err)
		saneError(t, k8sschema.Check(documents))
		_, err = argorollouts.Decode(documents)
		saneError(t, err)
		_, err = flagger.Decode(documents)
		saneError(t, err)
	})
}

func saneError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var invalid *scenario.InvalidError
	if !errors.As(err, &invalid) {
		t.Fatalf("error of type %T: %v", err, err)
	}
	if len(invalid.Problems) == 0 {
		t.Fatal("an InvalidError without problems")
	}
	for _, problem := range invalid.Problems {
		if problem.Message == "" || problem.Line < 0 {
			t.Fatalf("bad problem %+v", problem)
		}
	}
}

// seedBodies are the manifests of this kind in testdata, without their
// apiVersion and kind lines, each followed by the rest of its file (a
// Canary's target Deployment). Few seeds on purpose: the fuzzer measures
// each seed's coverage first, and that costs seconds apiece in a binary
// holding the sim.
func seedBodies(f *testing.F, kind string) []string {
	files, _ := filepath.Glob("testdata/*.yaml")
	var bodies []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		documents := strings.Split(string(data), "\n---\n")
		for i, document := range documents {
			if !strings.Contains(document, "\nkind: "+kind+"\n") {
				continue
			}
			var body []string
			for _, line := range strings.Split(document, "\n") {
				if !strings.HasPrefix(line, "apiVersion:") && !strings.HasPrefix(line, "kind:") {
					body = append(body, line)
				}
			}
			rest := append([]string{strings.Join(body, "\n")}, documents[:i]...)
			bodies = append(bodies, strings.Join(append(rest, documents[i+1:]...), "\n---\n"))
		}
	}
	return bodies
}
