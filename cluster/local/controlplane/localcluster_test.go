package controlplane

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Without a Go toolchain and without cached or given binaries, the error
// says what is missing and how to provide it.
func TestMissingToolchainIsExplained(t *testing.T) {
	builder := &Builder{CacheDir: t.TempDir(), Go: "/nonexistent/go"}
	_, err := builder.Resolve(context.Background())
	if !errors.Is(err, ErrToolchain) || !strings.Contains(err.Error(), "CANARYLAB_ETCD") {
		t.Fatalf("got %v, want ErrToolchain naming the override", err)
	}
}

// A binary that does not start fails its step by name, and nothing that
// was started is left running.
func TestABinaryThatDoesNotStartFailsItsStep(t *testing.T) {
	overrides := map[string]string{}
	for _, bin := range Binaries {
		overrides[bin.Name] = "/bin/true"
	}
	overrides["etcd"] = "/bin/false"
	dir := t.TempDir()
	_, err := Up(context.Background(), Options{Dir: dir, Builder: &Builder{CacheDir: t.TempDir(), Overrides: overrides}})
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
	builder := &Builder{CacheDir: t.TempDir(), Go: "/nonexistent/go", Overrides: OverridesFrom(func(name string) string { return map[string]string{"CANARYLAB_KWOK": notExecutable}[name] })}
	_, err := builder.resolve(context.Background(), Binaries[4], progress{5, len(Binaries)})
	if err == nil || !strings.Contains(err.Error(), "the override "+notExecutable+" (CANARYLAB_KWOK)") {
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

func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// A process that runs but never gets ready fails its step after the
// deadline, by name, and is stopped: nothing is left running.
func TestAProcessThatNeverGetsReadyIsStopped(t *testing.T) {
	overrides := map[string]string{}
	for _, bin := range Binaries {
		overrides[bin.Name] = "/bin/true"
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	overrides["etcd"] = script(t, "echo $$ > "+pidFile+"\nexec sleep 600")
	dir := t.TempDir()
	_, err := Up(context.Background(), Options{Dir: dir, StepTimeout: 2 * time.Second, Builder: &Builder{CacheDir: t.TempDir(), Overrides: overrides}})
	if err == nil || !strings.Contains(err.Error(), "step etcd") || !strings.Contains(err.Error(), "not ready after 2s") {
		t.Fatalf("got %v, want the etcd step to time out", err)
	}
	data, readErr := os.ReadFile(pidFile)
	if readErr != nil {
		t.Fatal(readErr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if alive(pid) {
		t.Errorf("the process that never got ready (pid %d) still runs", pid)
	}
}

// A port taken by someone else makes the process exit; the step's error
// carries the end of its log, which says so.
func TestAPortInUseIsReportedFromTheLog(t *testing.T) {
	overrides := map[string]string{}
	for _, bin := range Binaries {
		overrides[bin.Name] = "/bin/true"
	}
	overrides["etcd"] = script(t, `echo "listen tcp 127.0.0.1:2379: bind: address already in use" >&2; exit 1`)
	_, err := Up(context.Background(), Options{Dir: t.TempDir(), Builder: &Builder{CacheDir: t.TempDir(), Overrides: overrides}})
	if err == nil || !strings.Contains(err.Error(), "step etcd") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v, want the etcd step to fail with the log's reason", err)
	}
}

// Two builds at once: the second waits for the first's lock.
func TestBuildLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := lockDir(ctx, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second lock while the first is held: %v, want to wait until the deadline", err)
	}
	unlock()
	again, err := lockDir(context.Background(), dir)
	if err != nil {
		t.Fatalf("the lock was not released: %v", err)
	}
	again()
}

// Runs on one cluster take turns per namespace, and say when they wait.
func TestNamespaceLockTakesTurns(t *testing.T) {
	state := &State{Dir: t.TempDir()}
	unlock, err := state.LockNamespace(context.Background(), "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := state.LockNamespace(context.Background(), "team-a", nil)
	if err != nil {
		t.Fatalf("another namespace is not free: %v", err)
	}
	other()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	waited := false
	if _, err := state.LockNamespace(ctx, "default", func() { waited = true }); !errors.Is(err, context.DeadlineExceeded) || !waited {
		t.Fatalf("second run in the namespace: err %v, waited %v; want it to wait and say so", err, waited)
	}
	unlock()
	again, err := state.LockNamespace(context.Background(), "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	again()
}
