package platform

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/manifests"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata")

// chartDigests is what `platform digests` finds when the downloads agree
// with the index: each chart at its digest, and the Argo Rollouts manifest
// at argo.
func chartDigests(base, istiod, gateway, argo string) []Digest {
	var digests []Digest
	for _, chart := range []struct{ name, digest string }{{ChartBase, base}, {ChartIstiod, istiod}, {ChartGateway, gateway}} {
		digests = append(digests, Digest{Field: chartField(chart.name), Chart: chart.name, Source: "https://charts.example/" + chart.name + "-1.31.1.tgz",
			SHA256: chart.digest, Index: chart.digest})
	}
	return append(digests, Digest{Field: "argoRollouts.sha256", Source: "github.com/argoproj/argo-rollouts@v1.10.2/manifests/install.yaml", SHA256: argo})
}

// changedLines are the lines of after that differ from before's (which
// must have as many).
func changedLines(t *testing.T, before, after []byte) []string {
	t.Helper()
	a, b := strings.Split(string(before), "\n"), strings.Split(string(after), "\n")
	if len(a) != len(b) {
		t.Fatalf("%d lines became %d", len(a), len(b))
	}
	var changed []string
	for i := range a {
		if a[i] != b[i] {
			changed = append(changed, b[i])
		}
	}
	return changed
}

var (
	digestA = strings.Repeat("a", 64)
	digestB = strings.Repeat("b", 64)
	digestC = strings.Repeat("c", 64)
	digestD = strings.Repeat("d", 64)
)

// `platform digests --write` on (a copy of) versions.yaml changes the three
// chart digest values and nothing else: testdata/versions.pinned.yaml.
func TestPinDigestsGolden(t *testing.T) {
	t.Parallel()
	before, err := os.ReadFile("testdata/versions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVersions(before)
	if err != nil {
		t.Fatal(err)
	}
	after, pins, err := PinDigests(before, chartDigests(digestA, digestB, digestC, v.ArgoRollouts.SHA256), false)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/versions.pinned.yaml", after, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile("testdata/versions.pinned.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(golden) {
		t.Errorf("rewritten versions.yaml differs from testdata/versions.pinned.yaml (go test -update rewrites it):\n%s", after)
	}
	want := []string{"      sha256: " + digestA, "      sha256: " + digestB, "      sha256: " + digestC}
	if got := changedLines(t, before, after); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changed lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(pins) != 3 || pins[0] != (Pin{Field: "istio.charts[base].sha256", From: DigestTODO, To: digestA}) || pins[2].To != digestC {
		t.Errorf("pins %+v", pins)
	}
	pinned, err := ParseVersions(after)
	if err != nil {
		t.Fatal(err)
	}
	if gateway, _ := pinned.Istio.Chart(ChartGateway); gateway.SHA256 != digestC {
		t.Errorf("the gateway chart reads %q", gateway.SHA256)
	}

	// Once pinned, the same digests change nothing.
	again, pins, err := PinDigests(after, chartDigests(digestA, digestB, digestC, v.ArgoRollouts.SHA256), false)
	if err != nil || len(pins) != 0 || string(again) != string(after) {
		t.Errorf("pinning again: %v, %+v", err, pins)
	}
}

// The embedded versions.yaml (the one the binary installs from) too: only
// its placeholder digest lines change.
func TestPinDigestsEmbeddedVersions(t *testing.T) {
	t.Parallel()
	before, err := manifests.Platform.ReadFile("platform/versions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVersions(before)
	if err != nil {
		t.Fatal(err)
	}
	after, pins, err := PinDigests(before, chartDigests(digestA, digestB, digestC, v.ArgoRollouts.SHA256), true)
	if err != nil {
		t.Fatal(err)
	}
	changed := changedLines(t, before, after)
	if len(changed) != len(pins) {
		t.Errorf("%d lines changed for %d pins: %q", len(changed), len(pins), changed)
	}
	for _, line := range changed {
		if !strings.HasPrefix(strings.TrimSpace(line), "sha256: ") {
			t.Errorf("changed a line that is not a digest: %q", line)
		}
	}
}

func TestPinDigestsRefusesToOverwriteAPin(t *testing.T) {
	t.Parallel()
	before, err := os.ReadFile("testdata/versions.pinned.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVersions(before)
	if err != nil {
		t.Fatal(err)
	}
	found := chartDigests(digestD, digestB, digestC, strings.Repeat("9", 64))
	_, _, err = PinDigests(before, found, false)
	if !errors.Is(err, ErrPinned) {
		t.Fatalf("error %v, want %v", err, ErrPinned)
	}
	t.Log(err)
	for _, says := range []string{"istio.charts[base].sha256 pins " + digestA + ", but " + digestD + " was found", "argoRollouts.sha256 pins " + v.ArgoRollouts.SHA256, "--force"} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("error %q does not say %q", err, says)
		}
	}

	after, pins, err := PinDigests(before, found, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pins) != 2 || pins[0] != (Pin{Field: "istio.charts[base].sha256", From: digestA, To: digestD}) || pins[1].Field != "argoRollouts.sha256" {
		t.Errorf("pins %+v", pins)
	}
	// Quoted: only digits would read as a number.
	want := []string{"  sha256: \"" + strings.Repeat("9", 64) + "\"", "      sha256: " + digestD}
	if got := changedLines(t, before, after); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changed lines %q, want %q", got, want)
	}
}

// A chart whose download and index disagree, or that the index does not
// list, is not pinned, and nothing is written.
func TestPinDigestsNeedsTheIndexToAgree(t *testing.T) {
	t.Parallel()
	before, err := os.ReadFile("testdata/versions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := ParseVersions(before)
	found := chartDigests(digestA, digestB, digestC, v.ArgoRollouts.SHA256)
	found[0].Index = digestD
	found[1].Index, found[1].IndexError = "", "index.yaml lists no istiod 1.31.1"
	after, pins, err := PinDigests(before, found, true)
	if err == nil || after != nil || pins != nil {
		t.Fatalf("wrote %d pins despite the disagreement", len(pins))
	}
	t.Log(err)
	for _, says := range []string{"istio.charts[base].sha256: https://charts.example/base-1.31.1.tgz downloaded with sha256 " + digestA + ", but the chart repository's index lists " + digestD,
		"istio.charts[istiod].sha256: no digest from the chart repository's index to pin: index.yaml lists no istiod 1.31.1"} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("error %q does not say %q", err, says)
		}
	}
}

// Quotes and flow style are kept.
func TestPinDigestsKeepsTheStyle(t *testing.T) {
	t.Parallel()
	before, err := os.ReadFile("testdata/versions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := ParseVersions(before)
	text := string(before)
	text = strings.Replace(text, "    - name: base\n      sha256: TODO-fill-on-a-machine-with-network\n", "    - {name: base, sha256: 'TODO-fill-on-a-machine-with-network'}  # base\n", 1)
	text = strings.Replace(text, "    - name: istiod\n      sha256: TODO-fill-on-a-machine-with-network\n", "    - name: istiod\n      sha256: \"TODO-fill-on-a-machine-with-network\" # istiod\n", 1)
	if text == string(before) {
		t.Fatal("testdata/versions.yaml changed: update this test")
	}
	after, _, err := PinDigests([]byte(text), chartDigests(digestA, digestB, digestC, v.ArgoRollouts.SHA256), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"    - {name: base, sha256: '" + digestA + "'}  # base", "      sha256: \"" + digestB + "\" # istiod", "      sha256: " + digestC}
	if got := changedLines(t, []byte(text), after); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changed lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
