package k8sschema

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	// Nothing here decodes Istio's types any more; this import (a package
	// of constants) keeps istio.io/api required in go.mod and recorded in
	// the build info, so that the version of its CRDs is pinned with the
	// others.
	"github.com/canarylab/canarylab/internal/gomod"
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
	istioAPIVersion     = "v1.31.1"
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
// `go mod download` puts it (gomod.Dir).
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := gomod.Dir(ctx, "go", module, version)
	if err != nil {
		return "", fmt.Errorf("the CRDs of %s@%s are needed to judge custom resources: %w", module, version, err)
	}
	return dir, nil
}
