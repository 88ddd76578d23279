package cli

import (
	"strings"
	"testing"
)

// Objects the controller's model passes over are named, with file:line:
// as validate's warnings and on run's stderr (stdout stays the results).
func TestManifestNotes(t *testing.T) {
	t.Parallel()
	const file = "../../cluster/local/testdata/extra-kinds-promote.yaml"
	const note = "extra-kinds.yaml:3: Gateway canarylab-gateway (networking.istio.io/v1beta1) is not used by the argo-rollouts model"
	code, out, _ := run(t, "validate", file)
	if code != 0 || !strings.Contains(out, "warning: ") || !strings.Contains(out, note) {
		t.Errorf("validate: exit %d, stdout %q", code, out)
	}
	code, out, errOut := run(t, "run", "-o", "ndjson", file)
	if code != 0 || !strings.Contains(errOut, "note: ") || !strings.Contains(errOut, note) || strings.Contains(out, "note:") {
		t.Errorf("run: exit %d, stderr %q", code, errOut)
	}
	if _, _, errOut := run(t, "run", "--quiet", file); strings.Contains(errOut, "note:") {
		t.Errorf("run --quiet printed notes: %q", errOut)
	}
}
