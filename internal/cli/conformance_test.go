package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

// Backends that stand in for a real one: "late" replays the sim 10s late
// (every decisive moment beyond tolerance), "broken" cannot run at all.
const (
	lateBackend   = "test-late"
	brokenBackend = "test-broken"
)

type lateSim struct{}

func (lateSim) Name() string { return lateBackend }

func (lateSim) Run(ctx context.Context, sc *scenario.Scenario, opts runner.Options) (*result.Result, error) {
	res, err := sim.New().Run(ctx, sc, opts)
	if res != nil {
		res.Backend = lateBackend
		res.Outcome.AtSeconds += 10
		for i := range res.Events {
			res.Events[i].AtSeconds += 10
		}
	}
	return res, err
}

type brokenBackendImpl struct{}

func (brokenBackendImpl) Name() string { return brokenBackend }

func (brokenBackendImpl) Run(context.Context, *scenario.Scenario, runner.Options) (*result.Result, error) {
	return nil, errors.Join(runner.ErrBackend, errors.New("kube-apiserver did not become ready"))
}

func (lateSim) Close() error { return nil }

func (brokenBackendImpl) Close() error { return nil }

// withFakes makes the two stand-ins by name, the rest as the CLI does.
func withFakes(name string) (runner.Backend, error) {
	switch name {
	case lateBackend:
		return lateSim{}, nil
	case brokenBackend:
		return brokenBackendImpl{}, nil
	}
	return openBackend(name)
}

// runFakes is run with the stand-in backends available.
func runFakes(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runWith(context.Background(), Streams{Out: &out, Err: &errOut}, args, withFakes)
	return code, out.String(), errOut.String()
}

// The sim against itself runs the whole conformance suite and must agree
// on every scenario, moment by moment.
func TestConformanceSimAgainstSimAgrees(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, "conformance", "--against", "sim", "../../conformance")
	if code != ExitPassed {
		t.Fatalf("exit %d, want %d; stderr:\n%s\nstdout:\n%s", code, ExitPassed, stderr, stdout)
	}
	scenarios, err := scenario.LoadAll([]string{"../../conformance"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		if !strings.Contains(stdout, "\n"+sc.Metadata.Name+" ") {
			t.Errorf("the table has no row for %s", sc.Metadata.Name)
		}
	}
	if strings.Contains(stdout, "NO") || strings.Contains(stdout, "missing") {
		t.Errorf("the sim disagrees with itself:\n%s", stdout)
	}
	if want := "SIM (AGAIN)"; !strings.Contains(stdout, want) {
		t.Errorf("the header does not tell the two sim columns apart (%s):\n%s", want, stdout)
	}
}

// Without arguments the command runs conformance/ from the repository root.
func TestConformanceDefaultsToTheSuite(t *testing.T) {
	t.Chdir("../..")
	code, stdout, stderr := run(t, "conformance", "--against", "sim", "--markdown")
	if code != ExitPassed {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "| `weighted-steps-promote` |") || !strings.Contains(stdout, "| Scenario | sim | sim (again) |") {
		t.Errorf("markdown does not show the suite:\n%s", stdout)
	}
}

func TestConformanceExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		args     []string
		code     int
		mentions []string
	}{
		{"an unknown backend is a usage error", []string{"conformance", "--against", "moon", "testdata/passes.yaml"}, ExitInvalid,
			[]string{`unknown backend "moon"`, "sim, local, kind"}},
		{"a backend that cannot run", []string{"conformance", "--against", brokenBackend, "testdata/passes.yaml"}, ExitBackend,
			[]string{"kube-apiserver did not become ready"}},
		{"moments beyond tolerance disagree", []string{"conformance", "--against", lateBackend, "testdata/passes.yaml"}, ExitFailed, nil},
		{"invalid scenario", []string{"conformance", "--against", "sim", "testdata/invalid.yaml"}, ExitInvalid, []string{"meteor-strike"}},
		{"empty backend name", []string{"conformance", "--against", "", "testdata/passes.yaml"}, ExitInvalid, []string{"--against"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runFakes(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, want := range tc.mentions {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not mention %q:\n%s", want, stderr)
				}
			}
		})
	}
}

func TestConformanceShowsDisagreement(t *testing.T) {
	t.Parallel()
	code, stdout, _ := runFakes(t, "conformance", "--against", lateBackend, "testdata/passes.yaml")
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d", code, ExitFailed)
	}
	for _, want := range []string{"TEST-LATE", "+10s", "NO: apart by 10s, more than ", "0 of 1 scenarios agree"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
}

func TestConformanceReportDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runFakes(t, "conformance", "--against", lateBackend, "--report-dir", dir, "--markdown", "testdata/passes.yaml")
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d: %s", code, ExitFailed, stderr)
	}
	for backend, offset := range map[string]float64{"sim": 0, lateBackend: 10} {
		data, err := os.ReadFile(filepath.Join(dir, backend, "passes.json"))
		if err != nil {
			t.Fatalf("result of %s not written: %v", backend, err)
		}
		var res result.Result
		if err := json.Unmarshal(data, &res); err != nil {
			t.Fatalf("%s: not a result: %v", backend, err)
		}
		if res.Backend != backend || res.Scenario != "passes" || res.Outcome.Result != "rolled-back" || res.Outcome.AtSeconds < offset {
			t.Errorf("%s: unexpected result %+v", backend, res.Outcome)
		}
	}
	note, err := os.ReadFile(filepath.Join(dir, "conformance.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(note) != stdout || !strings.Contains(stdout, "Disagreements:") {
		t.Errorf("conformance.md and --markdown output differ or lack the disagreements:\n%s\n---\n%s", note, stdout)
	}
}
