package cli

import (
	"strings"
	"testing"
)

// `platform digests` needs the network, so only its wiring is tested here;
// platform.Digests is tested against a fake chart repository.
func TestPlatformDigestsCommand(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, "platform", "digests", "--help")
	if code != ExitPassed || !strings.Contains(stdout, "manifests/platform/versions.yaml") {
		t.Errorf("help: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := run(t, "platform", "digests", "base"); code != ExitInvalid || !strings.Contains(stderr, "takes no arguments") {
		t.Errorf("an argument: exit %d, want %d\n%s", code, ExitInvalid, stderr)
	}
}
