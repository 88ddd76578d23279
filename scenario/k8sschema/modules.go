package k8sschema

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	modulepath "golang.org/x/mod/module"

	// Nothing here decodes Istio's types any more; this import (a package
	// of constants) keeps istio.io/api required in go.mod and recorded in
	// the build info, so that the version of its CRDs is pinned with the
	// others.
	_ "istio.io/api/label"
)

// The modules whose CRDs judge custom resources. The versions are those of
// go.mod (TestModuleVersionsMatchGoMod keeps them so); a binary built with
// module information takes them from its own build info instead, so that
// the CRDs always match the Go types compiled in.
const (
	argoRolloutsModule = "github.com/argoproj/argo-rollouts"
	flaggerModule      = "github.com/fluxcd/flagger"
	istioAPIModule     = "istio.io/api"

	argoRolloutsVersion = "v1.10.1"
	flaggerVersion      = "v1.44.0"
	istioAPIVersion     = "v1.32.0"
)

// fallbackVersions are the constants above by module path.
var fallbackVersions = map[string]string{
	argoRolloutsModule: argoRolloutsVersion,
	flaggerModule:      flaggerVersion,
	istioAPIModule:     istioAPIVersion,
}

// moduleVersion is the version of module this binary was built with, or
// the pinned constant when the build carries no module information (or
// replaces the module with a directory, which has no version to fetch).
func moduleVersion(module string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path != module {
				continue
			}
			if dep.Replace != nil {
				if dep.Replace.Version != "" && dep.Replace.Path == module {
					return dep.Replace.Version
				}
				break
			}
			if dep.Version != "" && dep.Version != "(devel)" {
				return dep.Version
			}
		}
	}
	return fallbackVersions[module]
}

// moduleDirs remembers each module's directory for the process: finding it
// may run the go command.
var moduleDirs sync.Map // module@version -> moduleDirResult

type moduleDirResult struct {
	dir string
	err error
}

// moduleDir is the module cache directory of module@version: under
// $GOMODCACHE (or `go env GOMODCACHE`) when it is there already, else where
// `go mod download` puts it (the same steps as
// cluster/local/controlplane/binaries.go ModuleDir, without its Builder).
// A module that cannot be found is an error that says what to run: the CRDs
// are never silently left out.
func moduleDir(module, version string) (string, error) {
	key := module + "@" + version
	if cached, ok := moduleDirs.Load(key); ok {
		r := cached.(moduleDirResult)
		return r.dir, r.err
	}
	dir, err := findModuleDir(module, version)
	moduleDirs.Store(key, moduleDirResult{dir, err})
	return dir, err
}

func findModuleDir(module, version string) (string, error) {
	escaped, err := modulepath.EscapePath(module)
	if err != nil {
		return "", err
	}
	escapedVersion, err := modulepath.EscapeVersion(version)
	if err != nil {
		return "", err
	}
	if cache := goModCache(); cache != "" {
		dir := filepath.Join(cache, escaped+"@"+escapedVersion)
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
	}
	dir, downloadErr := downloadModule(module, version)
	if downloadErr == nil {
		return dir, nil
	}
	// A module whose go.mod asks for a newer Go is reported as an error
	// by the download, after it has been extracted (see ModuleDir).
	if cache := goModCache(); cache != "" {
		dir := filepath.Join(cache, escaped+"@"+escapedVersion)
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("the CRDs of %s@%s are needed to judge custom resources, and the module is not in the Go module cache (%v); "+
		"run `go mod download %s@%s` (with network access to a Go module proxy) and try again", module, version, downloadErr, module, version)
}

// goModCache is $GOMODCACHE, else what the go command says, else empty.
func goModCache() string {
	if cache := os.Getenv("GOMODCACHE"); cache != "" {
		return cache
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// downloadModule runs `go mod download -json module@version` outside any
// module (so that the repository's go.mod is neither read nor changed).
func downloadModule(module, version string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
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
