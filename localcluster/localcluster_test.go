package localcluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without a Go toolchain and without cached or given binaries, the error
// says what is missing and how to provide it.
func TestMissingToolchainIsExplained(t *testing.T) {
	t.Setenv("CANARYLAB_ETCD", "")
	builder := &Builder{CacheDir: t.TempDir(), Go: "/nonexistent/go"}
	_, err := builder.Resolve(context.Background())
	if !errors.Is(err, ErrToolchain) || !strings.Contains(err.Error(), "CANARYLAB_ETCD") {
		t.Fatalf("got %v, want ErrToolchain naming the override", err)
	}
}

// A binary that does not start fails its step by name, and nothing that
// was started is left running.
func TestABinaryThatDoesNotStartFailsItsStep(t *testing.T) {
	for _, bin := range Binaries {
		t.Setenv(bin.EnvVar(), "/bin/true")
	}
	t.Setenv("CANARYLAB_ETCD", "/bin/false")
	dir := t.TempDir()
	_, err := Up(context.Background(), Options{Dir: dir, Builder: &Builder{CacheDir: t.TempDir()}})
	if err == nil || !strings.Contains(err.Error(), "step etcd") || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("got %v, want the etcd step to fail because the process exited", err)
	}
	if state, err := ReadState(dir); err == nil {
		t.Fatalf("a failed set-up left state behind: %+v", state)
	}
}

func TestAnOverrideThatIsNotExecutableIsRefused(t *testing.T) {
	notExecutable := filepath.Join(t.TempDir(), "kwok")
	if err := os.WriteFile(notExecutable, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CANARYLAB_KWOK", notExecutable)
	builder := &Builder{CacheDir: t.TempDir(), Go: "/nonexistent/go"}
	_, err := builder.resolve(context.Background(), Binaries[4])
	if err == nil || !strings.Contains(err.Error(), "CANARYLAB_KWOK="+notExecutable) {
		t.Fatalf("got %v", err)
	}
}

func TestFreePortsDiffer(t *testing.T) {
	t.Parallel()
	ports, err := freePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, port := range ports {
		if seen[port] || port == 0 {
			t.Fatalf("ports %v repeat", ports)
		}
		seen[port] = true
	}
}
