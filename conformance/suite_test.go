package conformance_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/canarylab/canarylab"
	"github.com/canarylab/canarylab/conformance"
	"github.com/canarylab/canarylab/scenario"
)

// Limits that keep the suite runnable in real time on the local backend.
const (
	maxRunLimit  = 3 * time.Minute
	maxWithin    = 90 * time.Second
	minScenarios = 12
)

func loadSuite(t *testing.T) []*scenario.Scenario {
	t.Helper()
	scenarios, err := scenario.LoadAll([]string{"."})
	if err != nil {
		t.Fatal(err)
	}
	if len(scenarios) < minScenarios {
		t.Fatalf("the conformance suite holds %d scenarios, want at least %d", len(scenarios), minScenarios)
	}
	return scenarios
}

// Every scenario of the suite is short, says what it checks, and uses the
// suite's own manifests with short scale-down delays.
func TestSuiteIsShort(t *testing.T) {
	t.Parallel()
	for _, sc := range loadSuite(t) {
		t.Run(sc.Metadata.Name, func(t *testing.T) {
			t.Parallel()
			if sc.Metadata.Description == "" {
				t.Error("no description of the concern it checks")
			}
			if limit := sc.Spec.Load.Duration.Duration; limit > maxRunLimit {
				t.Errorf("load.duration %v: at most %v, the suite runs in real time", limit, maxRunLimit)
			}
			if within := sc.Spec.Expect.Within.Duration; within == 0 || within > maxWithin {
				t.Errorf("expect.within %v: give one, at most %v", within, maxWithin)
			}
			for _, manifest := range sc.Spec.Manifests {
				if filepath.Dir(manifest) != filepath.Join("..", "manifests", "conformance") {
					t.Errorf("manifest %s: use the suite's manifests in manifests/conformance/", manifest)
				}
			}
			for _, doc := range sc.Documents {
				checkFlaggerDocument(t, doc)
				if doc.Kind != "Rollout" {
					continue
				}
				var rollout struct {
					Spec struct {
						Replicas int `yaml:"replicas"`
						Strategy struct {
							Canary struct {
								TrafficRouting             *yaml.Node `yaml:"trafficRouting"`
								AbortScaleDownDelaySeconds *int       `yaml:"abortScaleDownDelaySeconds"`
								ScaleDownDelaySeconds      *int       `yaml:"scaleDownDelaySeconds"`
								DynamicStableScale         bool       `yaml:"dynamicStableScale"`
							} `yaml:"canary"`
						} `yaml:"strategy"`
					} `yaml:"spec"`
				}
				if err := yaml.Unmarshal(doc.Raw, &rollout); err != nil {
					t.Fatalf("%s: %v", doc.Where(), err)
				}
				if rollout.Spec.Replicas > 4 {
					t.Errorf("%s: %d replicas; keep it small (4)", doc.Where(), rollout.Spec.Replicas)
				}
				canary := rollout.Spec.Strategy.Canary
				if canary.TrafficRouting == nil {
					continue // both delays need traffic routing (AR validation.go)
				}
				if canary.DynamicStableScale {
					// No scaleDownDelaySeconds (AR validation.go rejects it): the
					// previous stable goes at the promotion; without
					// abortScaleDownDelaySeconds the canary goes with its weight.
					if delay := canary.AbortScaleDownDelaySeconds; delay != nil && *delay > 5 {
						t.Errorf("%s: set abortScaleDownDelaySeconds to at most 5, or leave it out, so that runs settle quickly", doc.Where())
					}
					continue
				}
				for name, delay := range map[string]*int{"abortScaleDownDelaySeconds": canary.AbortScaleDownDelaySeconds, "scaleDownDelaySeconds": canary.ScaleDownDelaySeconds} {
					if delay == nil || *delay > 5 {
						t.Errorf("%s: set %s to 5 so that runs settle quickly", doc.Where(), name)
					}
				}
			}
		})
	}
}

// Every expectation of the suite holds on the sim, for several seeds (the
// seed moves the Prometheus scrape phase, as real runs differ).
func TestSuitePassesOnTheSim(t *testing.T) {
	t.Parallel()
	for _, sc := range loadSuite(t) {
		for _, seed := range []int64{1, 2, 3} {
			t.Run(sc.Metadata.Name+"/seed-"+strconv.FormatInt(seed, 10), func(t *testing.T) {
				t.Parallel()
				res, err := canarylab.Run(context.Background(), sc, canarylab.Options{Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				if !res.Passed {
					t.Fatalf("%+v", res.Assertions)
				}
			})
		}
	}
}

// Across seeds the sim agrees with itself: the scenarios' decisive moments
// do not hinge on the scrape phase, so a real backend can be held to them.
func TestSuiteIsRobustToScrapePhase(t *testing.T) {
	t.Parallel()
	for _, sc := range loadSuite(t) {
		t.Run(sc.Metadata.Name, func(t *testing.T) {
			t.Parallel()
			reference, err := canarylab.Run(context.Background(), sc, canarylab.Options{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, seed := range []int64{2, 3, 4} {
				res, err := canarylab.Run(context.Background(), sc, canarylab.Options{Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				if row := conformance.CompareScenario(sc, reference, res); !row.Agrees {
					t.Errorf("seed %d disagrees with seed 1:\n%s", seed, conformance.Table([]conformance.Row{row}))
				}
			}
		})
	}
}

// maxFlaggerInterval keeps a Flagger run of a few checks within the
// suite's limits.
const maxFlaggerInterval = 30 * time.Second

// checkFlaggerDocument holds a Flagger scenario's Canary to a short
// interval and its target Deployment to 4 replicas.
func checkFlaggerDocument(t *testing.T, doc scenario.Document) {
	t.Helper()
	switch doc.Kind {
	case "Canary":
		var canary struct {
			Spec struct {
				Analysis struct {
					Interval string `yaml:"interval"`
				} `yaml:"analysis"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal(doc.Raw, &canary); err != nil {
			t.Fatalf("%s: %v", doc.Where(), err)
		}
		if interval, err := time.ParseDuration(canary.Spec.Analysis.Interval); err != nil || interval > maxFlaggerInterval {
			t.Errorf("%s: analysis.interval %q; keep it at most %v so that runs are short", doc.Where(), canary.Spec.Analysis.Interval, maxFlaggerInterval)
		}
	case "Deployment":
		var deployment struct {
			Spec struct {
				Replicas int `yaml:"replicas"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal(doc.Raw, &deployment); err != nil {
			t.Fatalf("%s: %v", doc.Where(), err)
		}
		if deployment.Spec.Replicas > 4 {
			t.Errorf("%s: %d replicas; keep it small (4)", doc.Where(), deployment.Spec.Replicas)
		}
	}
}
