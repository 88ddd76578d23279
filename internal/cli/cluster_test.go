package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/cluster/kind/provision"
)

// The dry run prints the plan and the kind config, and needs no Docker.
func TestKindClusterUpDryRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, stdout, stderr := run(t, "cluster", "up", "--provider", "kind", "--dry-run", "--name", "ci-7", "--dir", dir, "--http-port", "18080")
	if code != ExitPassed {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	steps := regexp.MustCompile(`(?m)^  \d+\. (.+)$`).FindAllStringSubmatch(stdout, -1)
	var names []string
	for _, step := range steps {
		names = append(names, step[1])
	}
	if got, want := strings.Join(names, ","), strings.Join(provision.Plan(provision.Options{}), ","); got != want || got == "" {
		t.Errorf("steps %q, want %q:\n%s", got, want, stdout)
	}
	for _, want := range []string{"kind cluster ci-7 (dry run", "directory: " + dir, "apiVersion: kind.x-k8s.io/v1alpha4", "name: ci-7",
		"image: " + provision.NodeImage, "containerPort: 30080", "hostPort: 18080", "listenAddress: 127.0.0.1"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run does not show %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(provision.NodeImage, "@sha256:") {
		t.Errorf("node image %s is not pinned by digest", provision.NodeImage)
	}

	code, stdout, _ = run(t, "cluster", "up", "--provider", "kind", "--dry-run", "--dir", dir)
	if code != ExitPassed || !strings.Contains(stdout, "name: canarylab") || !strings.Contains(stdout, "chosen when the cluster is created") {
		t.Errorf("default dry run, exit %d:\n%s", code, stdout)
	}
}

func TestClusterFlagMistakesAreUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"cluster", "up", "--provider", "moon"},
		{"cluster", "up", "--provider", "kind", "--name", "Not_Valid", "--dry-run"},
		{"cluster", "up", "--provider", "kind", "--http-port", "70000", "--dry-run"},
		{"cluster", "up", "--dry-run"},
		{"cluster", "up", "--reuse"},
		{"cluster", "up", "--keep"},
		{"cluster", "up", "--provider", "kind", "--flagger", "--dry-run"},
		{"cluster", "down", "--provider", "kind", "--keep"},
		{"cluster", "status", "--provider", "kind", "--bin-dir", "/tmp"},
	} {
		if code, _, stderr := run(t, args...); code != ExitInvalid {
			t.Errorf("%v: exit %d, want %d; stderr %s", args, code, ExitInvalid, stderr)
		}
	}
}
