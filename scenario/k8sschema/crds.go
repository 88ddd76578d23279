package k8sschema

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// crdSource is one CRD file inside a pinned module.
type crdSource struct{ module, file string }

func (s crdSource) String() string { return s.module + "@" + moduleVersion(s.module) + "/" + s.file }

// argoRolloutsCRDs are the stems of Argo Rollouts' CRD files
// (AR manifests/crds/<stem>-crd.yaml); the kind is the stem in CamelCase.
var argoRolloutsCRDs = []string{"rollout", "analysis-template", "cluster-analysis-template", "analysis-run", "experiment"}

// sourceOf is the file that defines group's kind, if one of the pinned
// modules does. The group alone decides for Flagger (one file) and Istio
// (one file for every *.istio.io group); a kind the file turns out not to
// define is left alone like any kind without a schema. argoproj.io is
// shared with Argo CD and Argo Workflows, so only Rollouts' own kinds map
// to a file there.
func sourceOf(group, kind string) (crdSource, bool) {
	switch {
	case group == "argoproj.io":
		for _, stem := range argoRolloutsCRDs {
			if camel(stem) == kind {
				return crdSource{argoRolloutsModule, "manifests/crds/" + stem + "-crd.yaml"}, true
			}
		}
	case group == "flagger.app":
		return crdSource{flaggerModule, "artifacts/flagger/crd.yaml"}, true
	case strings.HasSuffix(group, ".istio.io"):
		return crdSource{istioAPIModule, "kubernetes/customresourcedefinitions.gen.yaml"}, true
	}
	return crdSource{}, false
}

// camel turns "analysis-template" into "AnalysisTemplate".
func camel(stem string) string {
	var b strings.Builder
	for _, part := range strings.Split(stem, "-") {
		if part == "" {
			continue
		}
		r := []rune(part)
		b.WriteRune(unicode.ToUpper(r[0]))
		b.WriteString(string(r[1:]))
	}
	return b.String()
}

// loadedSource is a CRD file read once per process.
type loadedSource struct {
	once sync.Once
	crds map[string]*crdInfo // by kind
	err  error
}

var loadedSources sync.Map // crdSource -> *loadedSource

// lookupCRD finds the CRD of group's kind in the pinned modules: found is
// false for a kind none of them defines. The CRD's file is read at the
// first need, once per process.
func lookupCRD(group, kind string) (crd *crdInfo, found bool, err error) {
	source, ok := sourceOf(group, kind)
	if !ok {
		return nil, false, nil
	}
	entry, _ := loadedSources.LoadOrStore(source, &loadedSource{})
	loaded := entry.(*loadedSource)
	loaded.once.Do(func() { loaded.crds, loaded.err = loadSource(source) })
	if loaded.err != nil {
		return nil, false, loaded.err
	}
	crd, found = loaded.crds[kind]
	if found && crd.definition.Spec.Group != group {
		return nil, false, nil
	}
	return crd, found, nil
}

// loadSource reads a source's CRDs from the user's cache when an earlier
// process stored them, else from the module, storing them for the next.
// Parsing the YAML costs 25-75 ms a file, reading the cached JSON (without
// descriptions) a tenth of that; see BenchmarkLoadCRDs.
func loadSource(source crdSource) (map[string]*crdInfo, error) {
	version := moduleVersion(source.module)
	cachePath := crdCachePath(source, version)
	definitions, err := readCachedCRDs(cachePath)
	if err != nil {
		definitions, err = parseSourceCRDs(source, version)
		if err != nil {
			return nil, err
		}
		writeCachedCRDs(cachePath, definitions)
	}
	crds := map[string]*crdInfo{}
	for i := range definitions {
		crds[definitions[i].Spec.Names.Kind] = newCRDInfo(&definitions[i], source)
	}
	return crds, nil
}

// parseSourceCRDs reads the CRD file from the module cache, descriptions
// dropped (they do not judge anything and are half the bytes).
func parseSourceCRDs(source crdSource, version string) ([]apiextensionsv1.CustomResourceDefinition, error) {
	dir, err := moduleDir(source.module, version)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, filepath.FromSlash(source.file))
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the CRDs of %s@%s: %w", source.module, version, err)
	}
	definitions, err := parseCRDs(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return definitions, nil
}

// parseCRDs decodes every CustomResourceDefinition of a multi-document
// YAML file, as kubectl apply -f would read it.
func parseCRDs(data []byte) ([]apiextensionsv1.CustomResourceDefinition, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var definitions []apiextensionsv1.CustomResourceDefinition
	for {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := sigsyaml.Unmarshal(document, &crd); err != nil {
			return nil, err
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for i := range crd.Spec.Versions {
			if schema := crd.Spec.Versions[i].Schema; schema != nil {
				dropDescriptions(schema.OpenAPIV3Schema)
			}
		}
		definitions = append(definitions, crd)
	}
	if len(definitions) == 0 {
		return nil, errors.New("no CustomResourceDefinition in the file")
	}
	return definitions, nil
}

// dropDescriptions clears every description of a schema, in place.
func dropDescriptions(s *apiextensionsv1.JSONSchemaProps) {
	if s == nil {
		return
	}
	s.Description = ""
	for name, property := range s.Properties {
		dropDescriptions(&property)
		s.Properties[name] = property
	}
	for name, property := range s.PatternProperties {
		dropDescriptions(&property)
		s.PatternProperties[name] = property
	}
	for name, definition := range s.Definitions {
		dropDescriptions(&definition)
		s.Definitions[name] = definition
	}
	for _, list := range [][]apiextensionsv1.JSONSchemaProps{s.AllOf, s.OneOf, s.AnyOf} {
		for i := range list {
			dropDescriptions(&list[i])
		}
	}
	dropDescriptions(s.Not)
	if s.Items != nil {
		dropDescriptions(s.Items.Schema)
		for i := range s.Items.JSONSchemas {
			dropDescriptions(&s.Items.JSONSchemas[i])
		}
	}
	if s.AdditionalProperties != nil {
		dropDescriptions(s.AdditionalProperties.Schema)
	}
	if s.AdditionalItems != nil {
		dropDescriptions(s.AdditionalItems.Schema)
	}
}

// crdCacheFormat names the layout of the cached files; a change to what
// is stored changes it, and old files are then simply not read.
const crdCacheFormat = "v1"

// crdCachePath is where a source's CRDs are cached: under the user's cache
// directory, keyed by module@version (a module version never changes).
// Empty when there is no cache directory.
func crdCachePath(source crdSource, version string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	name := strings.ReplaceAll(source.file, "/", "_")
	name = strings.TrimSuffix(name, filepath.Ext(name)) + "." + crdCacheFormat + ".json"
	return filepath.Join(base, "canarylab", "crds", filepath.FromSlash(source.module)+"@"+version, name)
}

func readCachedCRDs(path string) ([]apiextensionsv1.CustomResourceDefinition, error) {
	if path == "" {
		return nil, errors.New("no cache directory")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var definitions []apiextensionsv1.CustomResourceDefinition
	if err := json.Unmarshal(data, &definitions); err != nil {
		return nil, err
	}
	if len(definitions) == 0 {
		return nil, errors.New("empty cache file")
	}
	return definitions, nil
}

// writeCachedCRDs stores the CRDs for the next process, atomically (a
// temporary file renamed into place), and quietly gives up when it cannot:
// the cache only saves time.
func writeCachedCRDs(path string, definitions []apiextensionsv1.CustomResourceDefinition) {
	if path == "" {
		return
	}
	data, err := json.Marshal(definitions)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	temporary, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return
	}
	_, writeErr := temporary.Write(data)
	closeErr := temporary.Close()
	if writeErr != nil || closeErr != nil || os.Rename(temporary.Name(), path) != nil {
		os.Remove(temporary.Name())
	}
}
