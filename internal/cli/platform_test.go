package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/canarylab/canarylab/cluster/kind/platform"
	"github.com/canarylab/canarylab/manifests"
)

// `platform digests` needs the network, so only its wiring is tested here;
// platform.Digests is tested against a fake chart repository.
func TestPlatformDigestsCommand(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, "platform", "digests", "--help")
	if code != ExitPassed || !strings.Contains(stdout, "manifests/platform/versions.yaml") || !strings.Contains(stdout, "--write") {
		t.Errorf("help: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := run(t, "platform", "digests", "base"); code != ExitInvalid || !strings.Contains(stderr, "takes no arguments") {
		t.Errorf("an argument: exit %d, want %d\n%s", code, ExitInvalid, stderr)
	}
	if code, _, stderr := run(t, "platform", "digests", "--force"); code != ExitInvalid || !strings.Contains(stderr, "--force is for --write") {
		t.Errorf("--force alone: exit %d, want %d\n%s", code, ExitInvalid, stderr)
	}
	missing := filepath.Join(t.TempDir(), "versions.yaml")
	if code, _, stderr := run(t, "platform", "digests", "--write", "--file", missing); code != ExitInvalid || !strings.Contains(stderr, "--file") {
		t.Errorf("--write to a missing file: exit %d, want %d\n%s", code, ExitInvalid, stderr)
	}
}

// runPlatform runs `canarylab platform ARGS`, downloading through client.
func runPlatform(t *testing.T, client *http.Client, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := platformCommand(Streams{Out: &out, Err: &errOut}, client)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(&errOut, "canarylab: %v\n", err)
		return exitCode(err), out.String(), errOut.String()
	}
	return ExitPassed, out.String(), errOut.String()
}

// `platform digests --write` against a chart repository served locally,
// on a copy of versions.yaml that points at it.
func TestPlatformDigestsWrite(t *testing.T) {
	t.Parallel()
	archives := map[string][]byte{"base": []byte("base chart"), "istiod": []byte("istiod chart"), "gateway": []byte("gateway chart")}
	var index strings.Builder
	index.WriteString("apiVersion: v1\nentries:\n")
	for _, name := range []string{"base", "istiod", "gateway"} {
		fmt.Fprintf(&index, "  %s:\n  - version: 1.31.1\n    digest: %s\n    urls: [%s-1.31.1.tgz]\n", name, platform.SHA256(archives[name]), name)
	}
	var requests atomic.Int64
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requests.Add(1)
		if req.URL.Path == "/charts/index.yaml" {
			w.Write([]byte(index.String()))
			return
		}
		for name, archive := range archives {
			if req.URL.Path == "/charts/"+name+"-1.31.1.tgz" {
				w.Write(archive)
				return
			}
		}
		http.NotFound(w, req)
	}))
	defer server.Close()

	embedded, err := manifests.Platform.ReadFile("platform/versions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const upstream = "repository: https://istio-release.storage.googleapis.com/charts\n"
	if !bytes.Contains(embedded, []byte(upstream)) {
		t.Fatalf("versions.yaml has no %q to point at the test's repository", upstream)
	}
	before := bytes.Replace(embedded, []byte(upstream), []byte("repository: "+server.URL+"/charts\n"), 1)
	file := filepath.Join(t.TempDir(), "versions.yaml")
	if err := os.WriteFile(file, before, 0o640); err != nil {
		t.Fatal(err)
	}
	// The chart digests this test writes over: the placeholders of today's
	// versions.yaml, or whatever it pins once they are filled.
	v, err := platform.ParseVersions(before)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	args := []string{"digests", "--write", "--file", file, "--cache-dir", cache}

	// Pinned digests that differ are not overwritten without --force.
	pinnedAlready := false
	for _, chart := range v.Istio.Charts {
		pinnedAlready = pinnedAlready || !platform.Unpinned(chart.SHA256) && chart.SHA256 != platform.SHA256(archives[chart.Name])
	}
	if pinnedAlready {
		code, _, stderr := runPlatform(t, server.Client(), args...)
		if code != ExitInvalid || !strings.Contains(stderr, "not overwritten without --force") {
			t.Fatalf("--write over pinned digests: exit %d, want %d\n%s", code, ExitInvalid, stderr)
		}
		args = append(args, "--force")
	}

	code, stdout, stderr := runPlatform(t, server.Client(), args...)
	if code != ExitPassed {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	t.Log(stdout)
	for _, says := range []string{"wrote 3 digest(s) to " + file, "rebuild canarylab", "istio.charts[base].sha256: " + v.Istio.Charts[0].SHA256 + " -> " + platform.SHA256(archives["base"])} {
		if !strings.Contains(stdout, says) {
			t.Errorf("stdout does not say %q:\n%s", says, stdout)
		}
	}
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Only the three chart digest lines changed; comments and order stay.
	beforeLines, afterLines := strings.Split(string(before), "\n"), strings.Split(string(after), "\n")
	if len(beforeLines) != len(afterLines) {
		t.Fatalf("%d lines became %d:\n%s", len(beforeLines), len(afterLines), after)
	}
	var changed []string
	for i := range beforeLines {
		if beforeLines[i] != afterLines[i] {
			changed = append(changed, afterLines[i])
		}
	}
	want := []string{"      sha256: " + platform.SHA256(archives["base"]), "      sha256: " + platform.SHA256(archives["istiod"]), "      sha256: " + platform.SHA256(archives["gateway"])}
	if strings.Join(changed, "\n") != strings.Join(want, "\n") {
		t.Errorf("changed lines:\n%s\nwant:\n%s", strings.Join(changed, "\n"), strings.Join(want, "\n"))
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("the file's mode: %v, %v, want 0640 kept", info.Mode(), err)
	}

	// Again: nothing to write.
	code, stdout, stderr = runPlatform(t, server.Client(), "digests", "--write", "--file", file, "--cache-dir", cache)
	if code != ExitPassed || !strings.Contains(stdout, "pins these digests already") {
		t.Errorf("again: exit %d\n%s%s", code, stdout, stderr)
	}

	// A pin that differs from the index is kept, and the command refuses.
	tampered := strings.Replace(string(after), platform.SHA256(archives["istiod"]), strings.Repeat("d", 64), 1)
	if err := os.WriteFile(file, []byte(tampered), 0o640); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runPlatform(t, server.Client(), "digests", "--write", "--file", file, "--cache-dir", cache)
	if code != ExitInvalid || !strings.Contains(stderr, "istio.charts[istiod].sha256 pins "+strings.Repeat("d", 64)) || !strings.Contains(stderr, "--force") {
		t.Errorf("a different pin: exit %d, want %d\n%s", code, ExitInvalid, stderr)
	}
	if now, _ := os.ReadFile(file); string(now) != tampered {
		t.Error("the file changed although the command refused")
	}
	code, stdout, stderr = runPlatform(t, server.Client(), "digests", "--write", "--force", "--file", file, "--cache-dir", cache)
	if now, _ := os.ReadFile(file); code != ExitPassed || string(now) != string(after) {
		t.Errorf("--force: exit %d, the file:\n%s\n%s%s", code, now, stdout, stderr)
	}

	// Without --write, the table against the file, which does not change.
	code, stdout, stderr = runPlatform(t, server.Client(), "digests", "--file", file, "--cache-dir", cache)
	if code != ExitPassed || strings.Count(stdout, "matches") != 4 || strings.Contains(stdout, "wrote") {
		t.Errorf("without --write: exit %d\n%s%s", code, stdout, stderr)
	}
	if requests.Load() == 0 {
		t.Error("the chart repository was not asked")
	}
}
