// Package gomod finds a module's files in the Go module cache: the CRDs
// and sources canarylab reads from the modules it pins (the controllers'
// and Istio's), never copied into the repository.
package gomod

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	modulepath "golang.org/x/mod/module"
)

// Dir is the module cache directory of module@version: under the cache
// when it is there already, else where `go mod download` (run by goTool,
// outside any module, so that no go.mod is read or changed) puts it.
func Dir(ctx context.Context, goTool, module, version string) (string, error) {
	escaped, err := modulepath.EscapePath(module)
	if err != nil {
		return "", err
	}
	escapedVersion, err := modulepath.EscapeVersion(version)
	if err != nil {
		return "", err
	}
	cached := func() (string, bool) {
		cache := modCache(ctx, goTool)
		if cache == "" {
			return "", false
		}
		dir := filepath.Join(cache, escaped+"@"+escapedVersion)
		_, err := os.Stat(filepath.Join(dir, "go.mod"))
		return dir, err == nil
	}
	if dir, ok := cached(); ok {
		return dir, nil
	}
	dir, downloadErr := download(ctx, goTool, module, version)
	if downloadErr == nil {
		return dir, nil
	}
	// A module whose go.mod asks for a newer Go than goTool (argo-rollouts
	// v1.10.2 asks for 1.26.10) is reported as an error by the download
	// after it has been extracted, which is all a reader needs.
	if dir, ok := cached(); ok {
		return dir, nil
	}
	return "", fmt.Errorf("module %s@%s is not in the Go module cache and could not be downloaded (%v): "+
		"run `go mod download %s@%s` with access to a Go module proxy", module, version, downloadErr, module, version)
}

// modCache is $GOMODCACHE, else what the go command says, else empty.
func modCache(ctx context.Context, goTool string) string {
	if cache := os.Getenv("GOMODCACHE"); cache != "" {
		return cache
	}
	out, err := exec.CommandContext(ctx, goTool, "env", "GOMODCACHE").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// download runs `go mod download -json module@version`.
func download(ctx context.Context, goTool, module, version string) (string, error) {
	cmd := exec.CommandContext(ctx, goTool, "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	output, runErr := cmd.Output() // it exits 1 with the reason in its JSON
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(output, &info); err != nil {
		if runErr != nil {
			return "", fmt.Errorf("go mod download: %w", runErr)
		}
		return "", fmt.Errorf("go mod download: %w", err)
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download: %s", info.Error)
	}
	return info.Dir, nil
}
