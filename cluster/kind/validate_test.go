package kind

import (
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Every part of a scenario the kind backend cannot reproduce is reported at
// once, each with its file:line and why, as a backend error.
func TestCheckScenarioReportsEverythingRefused(t *testing.T) {
	t.Parallel()
	sc := loadScenario(t, "testdata/refused.yaml")
	err := Check(sc)
	if !errors.Is(err, runner.ErrBackend) {
		t.Fatalf("err = %v, want a backend error", err)
	}
	for _, want := range []string{
		"refused.yaml:18: fault metrics-empty is not reproducible on the kind backend: a real Prometheus",
		"refused.yaml:19: fault crash-loop is not reproducible on the kind backend: the fixture app's running containers",
		"refused.yaml:12: image canarylab/demo:custom has no fixture image",
		"refused.yaml:15: spec.profiles changes the behaviour of canarylab/demo:green",
		"run this scenario on the sim or the local backend",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "refused.yaml:11:") || strings.Count(err.Error(), "\n  ") != 4 {
		t.Errorf("want four problems, the stable image (line 11) not among them:\n%v", err)
	}
}

// The catalog runs on kind but for the scenarios whose faults are refused
// and the Flagger scenarios (the kind backend installs Argo Rollouts only).
func TestCatalogOnKind(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("../../scenarios/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no catalog: %v", err)
	}
	var refused []string
	for _, path := range paths {
		sc := loadScenario(t, path)
		err := Check(sc)
		if sc.Spec.Controller == scenario.ControllerFlagger {
			if err == nil || !strings.Contains(err.Error(), "the kind backend runs argo-rollouts only") {
				t.Errorf("%s: a Flagger scenario, want it refused as argo-rollouts only: %v", path, err)
			}
			continue
		}
		if err != nil {
			refused = append(refused, filepath.Base(path))
			if !strings.Contains(err.Error(), "metrics-empty") {
				t.Errorf("%s: %v", path, err)
			}
		}
	}
	if !slices.Equal(refused, []string{"empty-metrics-trap-promotes-bad-release.yaml"}) {
		t.Errorf("refused %v, want only the empty-metrics trap", refused)
	}
}

func TestImageRefs(t *testing.T) {
	t.Parallel()
	sc := loadScenario(t, "../../scenarios/release-replaced-mid-rollout.yaml")
	if got, want := Images(sc), []string{"canarylab/demo:blue", "canarylab/demo:red", "canarylab/demo:yellow"}; !slices.Equal(got, want) {
		t.Errorf("images %v, want %v", got, want)
	}
}

// A refused scenario is reported before any cluster is looked for.
func TestRefusedBeforeTheCluster(t *testing.T) {
	t.Parallel()
	b := &Backend{Config: Config{Dir: t.TempDir(), Log: quietLog(), NewProvider: func(*slog.Logger) (provision.Provider, error) {
		t.Error("the backend looked for Docker for a scenario it refuses")
		return nil, errors.New("unreachable")
	}}}
	_, err := b.Run(t.Context(), loadScenario(t, "../../scenarios/empty-metrics-trap-promotes-bad-release.yaml"), runner.Options{})
	if !errors.Is(err, runner.ErrBackend) || !strings.Contains(err.Error(), "empty-metrics-trap-promotes-bad-release.yaml:") {
		t.Errorf("err = %v, want a backend error naming the file", err)
	}
}

// Without Docker the run is a backend error (exit 3) that says what to do.
func TestNoDockerIsABackendError(t *testing.T) {
	t.Parallel()
	for name, newProvider := range map[string]func(*slog.Logger) (provision.Provider, error){
		"not installed": func(*slog.Logger) (provision.Provider, error) {
			return nil, errors.New(`exec: "docker": executable file not found in $PATH`)
		},
		"not answering": func(*slog.Logger) (provision.Provider, error) {
			return &fakeProvider{listErr: errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")}, nil
		},
	} {
		b := &Backend{Config: Config{Dir: t.TempDir(), Log: quietLog(), NewProvider: newProvider}}
		_, err := b.Run(t.Context(), loadScenario(t, "../../scenarios/canary-demo-promoted.yaml"), runner.Options{})
		if !errors.Is(err, runner.ErrBackend) || !errors.Is(err, provision.ErrNoDocker) {
			t.Errorf("%s: err = %v, want a backend error wrapping ErrNoDocker", name, err)
		}
		if !strings.Contains(err.Error(), "Docker") {
			t.Errorf("%s: the error does not say what is missing: %v", name, err)
		}
	}
}
