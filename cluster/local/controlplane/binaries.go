// Package controlplane runs a real Kubernetes control plane and the real
// Argo Rollouts controller as local processes, built from their Go modules:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (fake
// nodes and pods) and the rollouts controller. No container runtime is
// needed. Set-up is a list of named steps, logged as they run and undone on
// failure (the measured recipe: docs/measurements.md#building-the-local-cluster).
package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/canarylab/canarylab/internal/gomod"
)

// Versions pinned together; they were run together on a machine like CI's.
const (
	EtcdVersion         = "v3.6.16"
	KubernetesVersion   = "v1.34.4"
	KwokVersion         = "v0.8.0"
	ArgoRolloutsVersion = "v1.10.2"
	IstioAPIVersion     = "v1.31.1" // as go.mod pins it: validate judges by the same CRDs
)

// ErrToolchain is returned when a binary must be built and no Go toolchain
// is at hand.
var ErrToolchain = errors.New("the Go toolchain is needed to build the control plane")

// Binary is one program of the control plane.
type Binary struct {
	// Name is the file name and the suffix of its override variable
	// (CANARYLAB_<NAME>, upper case, dashes as underscores).
	Name    string
	Version string
	build   func(ctx context.Context, b *Builder, out string) error
}

// EnvVar is the variable that points at a binary the user already has.
func (bin Binary) EnvVar() string {
	return "CANARYLAB_" + strings.ToUpper(strings.ReplaceAll(bin.Name, "-", "_"))
}

// Binaries of the control plane, in start order.
var Binaries = []Binary{
	{Name: "etcd", Version: EtcdVersion, build: buildEtcd},
	{Name: "kube-apiserver", Version: KubernetesVersion, build: buildKubernetes("kube-apiserver")},
	{Name: "kube-controller-manager", Version: KubernetesVersion, build: buildKubernetes("kube-controller-manager")},
	{Name: "kube-scheduler", Version: KubernetesVersion, build: buildKubernetes("kube-scheduler")},
	{Name: "kwok", Version: KwokVersion, build: buildKwok},
	{Name: "rollouts-controller", Version: ArgoRolloutsVersion, build: buildRollouts},
}

// Builder finds or builds the binaries, caching them by version.
type Builder struct {
	// CacheDir holds bin/<name>-<version> and the build directories.
	CacheDir string
	// BinDir, if set, is searched first for <name> (a user's own binaries).
	BinDir string
	Log    *slog.Logger
	// Go is the toolchain; "go" on PATH when empty.
	Go string
	// Overrides are binaries to use as they are, by name (etcd, ...):
	// the CLI fills them from CANARYLAB_<NAME> (OverridesFrom).
	Overrides map[string]string
}

// OverridesFrom reads each binary's override variable (EnvVar) with getenv.
func OverridesFrom(getenv func(string) string) map[string]string {
	overrides := map[string]string{}
	for _, bin := range Binaries {
		if path := getenv(bin.EnvVar()); path != "" {
			overrides[bin.Name] = path
		}
	}
	return overrides
}

// DefaultCacheDir is <user cache dir>/canarylab.
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the user cache directory: %w (set --cache-dir)", err)
	}
	return filepath.Join(dir, "canarylab"), nil
}

// Resolve returns the path of every binary: the override variable, then
// BinDir, then the cache, else a build into the cache.
func (b *Builder) Resolve(ctx context.Context) (map[string]string, error) {
	paths := map[string]string{}
	for i, bin := range Binaries {
		path, err := b.resolve(ctx, bin, progress{i + 1, len(Binaries)})
		if err != nil {
			return nil, fmt.Errorf("binary %s %s: %w", bin.Name, bin.Version, err)
		}
		paths[bin.Name] = path
	}
	return paths, nil
}

// progress is which binary of how many a build is: its step and the share
// of the binaries done before it.
type progress struct{ step, of int }

func (p progress) String() string {
	return fmt.Sprintf("%d/%d, %d%% done", p.step, p.of, (p.step-1)*100/p.of)
}

func (b *Builder) resolve(ctx context.Context, bin Binary, at progress) (string, error) {
	if path := b.Overrides[bin.Name]; path != "" {
		if err := executable(path); err != nil {
			return "", fmt.Errorf("the override %s (%s): %w", path, bin.EnvVar(), err)
		}
		return path, nil
	}
	if b.BinDir != "" {
		path := filepath.Join(b.BinDir, bin.Name)
		if err := executable(path); err == nil {
			return path, nil
		}
	}
	cached := filepath.Join(b.CacheDir, "bin", bin.Name+"-"+bin.Version)
	if executable(cached) == nil {
		return cached, nil
	}
	// Two canarylab processes building at once share the build
	// directories: the second waits for the first, then finds the binary.
	unlock, err := lockDir(ctx, b.CacheDir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if executable(cached) == nil {
		return cached, nil
	}
	if _, err := exec.LookPath(b.goTool()); err != nil {
		return "", fmt.Errorf("%w: install Go, or point %s (or --bin-dir) at a %s %s binary", ErrToolchain, bin.EnvVar(), bin.Name, bin.Version)
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return "", err
	}
	start := time.Now()
	b.logger().Info("building (first run only; cached afterwards)", "step", at.String(), "binary", bin.Name, "version", bin.Version, "into", cached)
	temp := cached + ".partial"
	if err := bin.build(ctx, b, temp); err != nil {
		os.Remove(temp)
		return "", err
	}
	if err := os.Rename(temp, cached); err != nil {
		return "", err
	}
	b.logger().Info("built", "step", at.String(), "binary", bin.Name, "took", time.Since(start).Round(time.Second))
	return cached, nil
}

func executable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

func (b *Builder) goTool() string {
	if b.Go != "" {
		return b.Go
	}
	return "go"
}

func (b *Builder) logger() *slog.Logger {
	if b.Log != nil {
		return b.Log
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// run runs the Go toolchain in dir, with its output kept for the error.
func (b *Builder) run(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, b.goTool(), args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off"), env...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), dir, err, tail(output.String(), 2000))
	}
	return nil
}

func tail(text string, n int) string {
	if len(text) <= n {
		return text
	}
	return "…" + text[len(text)-n:]
}

// moduleDir downloads a module into the module cache and returns a
// writable copy of it under the build directory.
func (b *Builder) moduleCopy(ctx context.Context, module, version, into string) (string, error) {
	source, err := b.ModuleDir(ctx, module, version)
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(into); err != nil {
		return "", err
	}
	if err := os.CopyFS(into, os.DirFS(source)); err != nil {
		return "", fmt.Errorf("copying %s: %w", source, err)
	}
	return into, filepath.WalkDir(into, func(path string, entry os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := entry.Info()
		if err != nil {
			return err
		}
		return os.Chmod(path, info.Mode()|0o200)
	})
}

// buildEtcd builds etcd from a one-line wrapper module: a dependency's
// replace directives are ignored, which is what makes this work where
// building inside the downloaded module does not.
func buildEtcd(ctx context.Context, b *Builder, out string) error {
	dir := filepath.Join(b.CacheDir, "build", "etcd-"+EtcdVersion)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		if err := b.run(ctx, dir, nil, "mod", "init", "canarylab.build/etcd"); err != nil {
			return err
		}
	}
	if err := b.run(ctx, dir, nil, "get", "-tool", "go.etcd.io/etcd/server/v3@"+EtcdVersion); err != nil {
		return err
	}
	return b.run(ctx, dir, nil, "build", "-o", out, "go.etcd.io/etcd/server/v3")
}

var stagingReplace = regexp.MustCompile(`(?m)^(\s*)(k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+\s*$`)

// buildKubernetes builds a component from a copy of k8s.io/kubernetes whose
// staging replaces point at the published staging modules.
func buildKubernetes(component string) func(context.Context, *Builder, string) error {
	return func(ctx context.Context, b *Builder, out string) error {
		dir := filepath.Join(b.CacheDir, "build", "kubernetes-"+KubernetesVersion)
		if _, err := os.Stat(filepath.Join(dir, ".prepared")); err != nil {
			if _, err := b.moduleCopy(ctx, "k8s.io/kubernetes", KubernetesVersion, dir); err != nil {
				return err
			}
			for _, name := range []string{"go.work", "go.work.sum", "vendor"} {
				os.RemoveAll(filepath.Join(dir, name))
			}
			gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err != nil {
				return err
			}
			staging := "v0" + strings.TrimPrefix(KubernetesVersion, "v1")
			gomod = stagingReplace.ReplaceAll(gomod, []byte("${1}${2} => ${2} "+staging))
			if err := os.WriteFile(filepath.Join(dir, "go.mod"), gomod, 0o644); err != nil {
				return err
			}
			if err := b.run(ctx, dir, nil, "mod", "tidy"); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, ".prepared"), nil, 0o644); err != nil {
				return err
			}
		}
		ldflags := "-X k8s.io/component-base/version.gitVersion=" + KubernetesVersion
		return b.run(ctx, dir, nil, "build", "-ldflags", ldflags, "-o", out, "./cmd/"+component)
	}
}

func buildKwok(ctx context.Context, b *Builder, out string) error {
	dir := filepath.Join(b.CacheDir, "build", "kwok-"+KwokVersion)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := b.run(ctx, dir, []string{"GOBIN=" + dir}, "install", "sigs.k8s.io/kwok/cmd/kwok@"+KwokVersion); err != nil {
		return err
	}
	return os.Rename(filepath.Join(dir, "kwok"), out)
}

// buildRollouts builds the controller from its module; its go.mod asks for
// a newer patch of Go than the toolchains here have, which it does not need.
func buildRollouts(ctx context.Context, b *Builder, out string) error {
	dir := filepath.Join(b.CacheDir, "build", "argo-rollouts-"+ArgoRolloutsVersion)
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		if _, err := b.moduleCopy(ctx, "github.com/argoproj/argo-rollouts", ArgoRolloutsVersion, dir); err != nil {
			return err
		}
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	gomod = regexp.MustCompile(`(?m)^go 1\.\d+(\.\d+)?$`).ReplaceAll(gomod, []byte("go 1.26"))
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), gomod, 0o644); err != nil {
		return err
	}
	return b.run(ctx, dir, nil, "build", "-o", out, "./cmd/rollouts-controller")
}

// ModuleDir returns the module cache directory of module@version,
// downloading it if needed (the CRDs ship inside the modules).
func (b *Builder) ModuleDir(ctx context.Context, module, version string) (string, error) {
	return gomod.Dir(ctx, b.goTool(), module, version)
}

// lockDir takes an exclusive lock on dir/build.lock (see LockFile).
func lockDir(ctx context.Context, dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return LockFile(ctx, filepath.Join(dir, "build.lock"), nil)
}

// LockFile takes an exclusive lock on path, waiting while another process
// holds it (or until ctx ends); waiting, if set, is called once when it has
// to wait. flock cannot be waited on with a deadline, so the wait tries
// again every 200 ms.
func LockFile(ctx context.Context, path string, waiting func()) (func(), error) {
	file, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(file.Fd()), syscall.LOCK_UN); file.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			file.Close()
			return nil, fmt.Errorf("locking %s: %w", file.Name(), err)
		}
		if waiting != nil {
			waiting()
			waiting = nil
		}
		select {
		case <-ctx.Done():
			file.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
