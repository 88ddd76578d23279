package htmlreport

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func simulate(t *testing.T, name string) *result.Result {
	t.Helper()
	return simulateFile(t, filepath.Join("../../scenarios", name+".yaml"))
}

func simulateFile(t *testing.T, path string) *result.Result {
	t.Helper()
	sc, err := scenario.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sim.New().Run(context.Background(), sc, runner.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	runner.Evaluate(sc, res)
	return res
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file; inspect and run go test -update if intended", name)
	}
}

// The markup for a fixed seed is stable.
func TestGoldenPages(t *testing.T) {
	var results []*result.Result
	for _, name := range []string{"bad-release-rolls-back", "metrics-outage-rolls-back", "canary-demo-promoted"} {
		res := simulate(t, name)
		results = append(results, res)
		var page bytes.Buffer
		if err := Page(&page, res); err != nil {
			t.Fatal(err)
		}
		golden(t, name+".html", page.Bytes())
	}
	var index bytes.Buffer
	if err := Index(&index, results); err != nil {
		t.Fatal(err)
	}
	golden(t, "index.html", index.Bytes())
}

var externalReference = regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?\s*(https?:)?//|@import|<script|<link`)

// No page fetches anything: no script, stylesheet, font or image from
// elsewhere, so reports open offline.
func TestPagesReferenceNothingExternal(t *testing.T) {
	t.Parallel()
	res := simulate(t, "background-analysis-catches-regression")
	var page, index bytes.Buffer
	if err := Page(&page, res); err != nil {
		t.Fatal(err)
	}
	if err := Index(&index, []*result.Result{res}); err != nil {
		t.Fatal(err)
	}
	for name, html := range map[string]string{"page": page.String(), "index": index.String()} {
		if match := externalReference.FindString(html); match != "" {
			t.Errorf("%s references something external: %q", name, match)
		}
	}
	// The detector itself must catch what it is for.
	for _, bad := range []string{`<img src="https://x/y.png">`, `<a href="//cdn/x">`, `background:url(http://x)`, `<script>`} {
		if !externalReference.MatchString(bad) {
			t.Errorf("the detector misses %q", bad)
		}
	}
}

func TestPageShowsWhatHappened(t *testing.T) {
	t.Parallel()
	res := simulate(t, "bad-release-rolls-back")
	var page bytes.Buffer
	if err := Page(&page, res); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, want := range []string{
		`class="weight"`, `class="requests-stable"`, `class="requests-canary"`, `class="errors-canary"`,
		`class="measurement failed"`, `class="moment aborted"`, "RolloutAborted", "maxFailedRequests",
		`<span class="badge pass">PASS</span>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

// A Flagger run's page shows its phases, checks and outcome moment.
func TestPageShowsFlaggerRun(t *testing.T) {
	t.Parallel()
	for name, moment := range map[string]string{
		"flagger-linkerd-bad-release-rolled-back": `class="moment aborted"`,
		"flagger-promotion-gate-opened":           `class="moment promoted"`,
		"flagger-promotion-gate-waits":            `class="moment paused"`,
	} {
		res := simulate(t, name)
		var page bytes.Buffer
		if err := Page(&page, res); err != nil {
			t.Fatal(err)
		}
		html := page.String()
		for _, want := range []string{moment, "CanaryPhaseChanged", `class="measurement`, "request-success-rate"} {
			if !strings.Contains(html, want) {
				t.Errorf("%s: page lacks %s", name, want)
			}
		}
	}
}

// A 10-minute run's page stays small enough to mail around.
func TestTenMinutePageUnderOneMegabyte(t *testing.T) {
	t.Parallel()
	res := simulateFile(t, "../../sim/testdata/bench-10m.yaml")
	if len(res.Series.CanaryWeight) < 600 {
		t.Fatalf("the run lasted %d s, want a 10-minute run", len(res.Series.CanaryWeight))
	}
	var page bytes.Buffer
	if err := Page(&page, res); err != nil {
		t.Fatal(err)
	}
	if page.Len() > 1<<20 {
		t.Fatalf("page is %d bytes, want under 1 MB", page.Len())
	}
}
