package kind

import (
	"fmt"
	"slices"
	"strings"

	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Refused are the faults the kind backend does not inject, and why: on a
// real cluster they cannot be reproduced without changing what is tested.
// The sim and the local backend (whose Prometheus API and pods are
// canarylab's) inject both.
var Refused = map[scenario.Fault]string{
	scenario.FaultMetricsEmpty: "a real Prometheus answers every query from the mesh's real telemetry; making it return an empty " +
		"result would mean changing Prometheus or the AnalysisTemplates' queries, which is what the scenario tests",
	scenario.FaultCrashLoop: "the fixture app's running containers cannot be made to crash and restart without changing the app " +
		"(a release that crashes from its start is an image: canarylab/demo:crash)",
}

// usedImage is an image the scenario runs, with the field that names it.
type usedImage struct {
	ref, field string
}

// usedImages are the stable image, the release and every further release,
// each once, in the order the scenario names them.
func usedImages(sc *scenario.Scenario) []usedImage {
	images := []usedImage{{sc.Spec.Stable, "spec.stable"}, {sc.Spec.Release, "spec.release"}}
	for i, event := range sc.Spec.Events {
		if event.Action == scenario.ActionRelease {
			images = append(images, usedImage{event.Image, fmt.Sprintf("spec.events[%d].image", i)})
		}
	}
	var unique []usedImage
	for _, image := range images {
		if !slices.ContainsFunc(unique, func(u usedImage) bool { return u.ref == image.ref }) {
			unique = append(unique, image)
		}
	}
	return unique
}

// Images are the images a scenario runs (stable, release, further
// releases), sorted: the fixture images its run loads into the cluster.
func Images(sc *scenario.Scenario) []string {
	var refs []string
	for _, image := range usedImages(sc) {
		refs = append(refs, image.ref)
	}
	slices.Sort(refs)
	return refs
}

// Check reports, before anything runs, every part of the scenario
// the kind backend cannot reproduce, each with its file:line: a refused
// fault, an image without a fixture image, and a spec.profiles entry that
// changes the behaviour of an image it runs (the fixture images carry the
// profiles compiled into the app). The error is a backend error (exit 3).
func Check(sc *scenario.Scenario) error {
	where := func(field string) string { return scenario.Position(sc.Path, sc.Line(field)) }
	var problems []string
	if sc.Spec.Controller != scenario.ControllerArgoRollouts {
		problems = append(problems, fmt.Sprintf("%s: the kind backend runs %s only (it installs no %s); run %s scenarios on the sim, or on the local backend with the real controller",
			where("spec.controller"), scenario.ControllerArgoRollouts, sc.Spec.Controller, sc.Spec.Controller))
	}
	for i, event := range sc.Spec.Events {
		if why, refused := Refused[event.Fault]; refused {
			problems = append(problems, fmt.Sprintf("%s: fault %s is not reproducible on the kind backend: %s; run this scenario on the sim or the local backend",
				where(fmt.Sprintf("spec.events[%d]", i)), event.Fault, why))
		}
	}
	builtIn := fixtures.Default()
	for _, image := range usedImages(sc) {
		profile, ok := builtIn[image.ref]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: image %s has no fixture image: the kind backend runs the images built from fixtures/profiles.yaml (%s)",
				where(image.field), image.ref, strings.Join(builtIn.Images(), ", ")))
			continue
		}
		if _, overridden := sc.Spec.Profiles[image.ref]; overridden && !sc.Profiles[image.ref].WithDefaults().Equal(profile.WithDefaults()) {
			problems = append(problems, fmt.Sprintf("%s: spec.profiles changes the behaviour of %s, but on the kind backend its pods run the fixture image, whose behaviour is the one in fixtures/profiles.yaml",
				where("spec.profiles."+image.ref), image.ref))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s cannot run on the kind backend:\n  %s", runner.ErrBackend, scenarioName(sc), strings.Join(problems, "\n  "))
	}
	return nil
}

func scenarioName(sc *scenario.Scenario) string {
	if sc.Path != "" {
		return sc.Path
	}
	return sc.Metadata.Name
}
