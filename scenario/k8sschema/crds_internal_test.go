package k8sschema

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// The versions used when the binary carries no build info are go.mod's.
func TestModuleVersionsMatchGoMod(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	file, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	required := map[string]string{}
	for _, r := range file.Require {
		required[r.Mod.Path] = r.Mod.Version
	}
	for module, version := range fallbackVersions {
		if required[module] != version {
			t.Errorf("%s: the constant says %s, go.mod requires %q", module, version, required[module])
		}
		if got := moduleVersion(module); got != version {
			t.Errorf("%s: the build info says %s, go.mod requires %s", module, got, version)
		}
	}
}

// The CRDs read back from the cache are those parsed from the module.
func TestCRDCacheRoundTrip(t *testing.T) {
	t.Parallel()
	source := crdSource{flaggerModule, "artifacts/flagger/crd.yaml"}
	parsed, err := parseSourceCRDs(source, flaggerVersion)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crds", "flagger.json")
	writeCachedCRDs(path, parsed)
	cached, err := readCachedCRDs(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(parsed, cached) {
		t.Error("the cached CRDs differ from the parsed ones")
	}
	if len(parsed) != 3 || parsed[0].Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Description != "" {
		t.Errorf("want Flagger's 3 CRDs without descriptions, got %d", len(parsed))
	}
}

// A module that is neither in the module cache nor downloadable is an
// error that says what to run, never a silent pass.
func TestMissingModuleSaysWhatToRun(t *testing.T) {
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOFLAGS", "-mod=mod")
	_, err := findModuleDir(flaggerModule, "v1.44.0")
	if err == nil || !strings.Contains(err.Error(), "run `go mod download github.com/fluxcd/flagger@v1.44.0`") {
		t.Errorf("error: %v", err)
	}
}

// BenchmarkLoadCRDs measures what a process pays once per CRD file:
// parsing the module's YAML, or reading the cached JSON.
func BenchmarkLoadCRDs(b *testing.B) {
	sources := []crdSource{
		{argoRolloutsModule, "manifests/crds/rollout-crd.yaml"},
		{argoRolloutsModule, "manifests/crds/analysis-template-crd.yaml"},
		{flaggerModule, "artifacts/flagger/crd.yaml"},
		{istioAPIModule, "kubernetes/customresourcedefinitions.gen.yaml"},
	}
	for _, source := range sources {
		name := filepath.Base(source.file)
		b.Run("yaml/"+name, func(b *testing.B) {
			for b.Loop() {
				if _, err := parseSourceCRDs(source, moduleVersion(source.module)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("cache/"+name, func(b *testing.B) {
			parsed, err := parseSourceCRDs(source, moduleVersion(source.module))
			if err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(b.TempDir(), "crds.json")
			writeCachedCRDs(path, parsed)
			b.ResetTimer()
			for b.Loop() {
				if _, err := readCachedCRDs(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuildCRDVersion measures building one version's validators
// (structural schema, OpenAPI validator, CEL programs), once per process.
func BenchmarkBuildCRDVersion(b *testing.B) {
	for _, gk := range []struct{ group, kind, version string }{
		{"argoproj.io", "Rollout", "v1alpha1"},
		{"flagger.app", "Canary", "v1beta1"},
		{"networking.istio.io", "VirtualService", "v1"},
		{"networking.istio.io", "DestinationRule", "v1"},
	} {
		b.Run(gk.kind, func(b *testing.B) {
			crd, found, err := lookupCRD(gk.group, gk.kind)
			if err != nil || !found {
				b.Fatal(err)
			}
			for b.Loop() {
				v := &crdVersion{spec: crd.versions[gk.version].spec}
				if err := v.build(false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
