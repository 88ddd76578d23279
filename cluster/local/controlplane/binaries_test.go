package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// A first-use build says which binary of how many it is and how much is
// done, so a 10-minute build shows its progress.
func TestBuildLogsItsStep(t *testing.T) {
	var logged bytes.Buffer
	overrides := map[string]string{}
	for _, bin := range Binaries[:len(Binaries)-1] {
		overrides[bin.Name] = "/bin/true"
	}
	// A Go that fails: the last binary's build starts, logs, and fails.
	builder := &Builder{CacheDir: t.TempDir(), Go: "/bin/false", Overrides: overrides,
		Log: slog.New(slog.NewTextHandler(&logged, nil))}
	if _, err := builder.Resolve(context.Background()); err == nil {
		t.Fatal("the build with a failing Go succeeded")
	}
	n := len(Binaries)
	want := fmt.Sprintf(`step="%d/%d, %d%% done"`, n, n, (n-1)*100/n)
	if !strings.Contains(logged.String(), want) || !strings.Contains(logged.String(), Binaries[n-1].Name) {
		t.Errorf("log %q, want the step %s of %s", logged.String(), want, Binaries[n-1].Name)
	}
}
