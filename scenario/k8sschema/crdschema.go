package k8sschema

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
)

// crdInfo is one CustomResourceDefinition and, built at first need, the
// validators of its versions.
type crdInfo struct {
	definition *apiextensionsv1.CustomResourceDefinition
	source     crdSource
	versions   map[string]*crdVersion
}

func newCRDInfo(definition *apiextensionsv1.CustomResourceDefinition, source crdSource) *crdInfo {
	info := &crdInfo{definition: definition, source: source, versions: map[string]*crdVersion{}}
	for i := range definition.Spec.Versions {
		v := &definition.Spec.Versions[i]
		info.versions[v.Name] = &crdVersion{spec: v}
	}
	return info
}

// namespaced is whether the CRD's objects live in a namespace.
func (c *crdInfo) namespaced() bool {
	return c.definition.Spec.Scope == apiextensionsv1.NamespaceScoped
}

// servedVersions names the versions the API server serves, for messages.
func (c *crdInfo) servedVersions() []string {
	var served []string
	for _, v := range c.definition.Spec.Versions {
		if v.Served {
			served = append(served, c.definition.Spec.Group+"/"+v.Name)
		}
	}
	sort.Strings(served)
	return served
}

// version is the served version of that name, built (once) for
// validation; nil when the CRD has no such version or does not serve it.
func (c *crdInfo) version(name string) (*crdVersion, error) {
	v, ok := c.versions[name]
	if !ok || !v.spec.Served {
		return nil, nil
	}
	v.once.Do(func() { v.err = v.build(c.definition.Spec.PreserveUnknownFields) })
	if v.err != nil {
		return nil, fmt.Errorf("the CRD %s (%s) version %s: %w", c.definition.Name, c.source, name, v.err)
	}
	return v, nil
}

// crdVersion is what the API server builds for one served version of a
// CRD before it accepts objects of it.
type crdVersion struct {
	spec *apiextensionsv1.CustomResourceDefinitionVersion
	once sync.Once
	err  error

	structural      *structuralschema.Structural
	validator       apiservervalidation.SchemaValidator
	cel             *cel.Validator // nil without x-kubernetes-validations
	preserveUnknown bool
	hasStatus       bool
	specReplicas    string // the scale subresource's specReplicasPath, if any
}

// build converts the version's schema to the internal type and builds the
// structural schema with its defaults pruned (AE
// pkg/apiserver/customresource_handler.go:654-685), the OpenAPI schema
// validator (ibid. :802-815) and the CEL validator with the per-call limit
// the API server uses (AE pkg/registry/customresource/strategy.go:78).
func (v *crdVersion) build(preserveUnknownFields bool) error {
	v.preserveUnknown = preserveUnknownFields
	if sub := v.spec.Subresources; sub != nil {
		v.hasStatus = sub.Status != nil
		if sub.Scale != nil {
			v.specReplicas = sub.Scale.SpecReplicasPath
		}
	}
	internal := &apiextensions.CustomResourceValidation{}
	if v.spec.Schema != nil {
		if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v.spec.Schema, internal, nil); err != nil {
			return fmt.Errorf("converting the schema: %w", err)
		}
	}
	structural, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil && !preserveUnknownFields {
		return fmt.Errorf("the schema is not structural: %w", err)
	}
	if structural != nil && !preserveUnknownFields {
		if err := structuraldefaulting.PruneDefaults(structural); err != nil {
			return fmt.Errorf("pruning the schema's defaults: %w", err)
		}
	}
	v.structural = structural
	v.validator, _, err = apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		return fmt.Errorf("building the schema validator: %w", err)
	}
	if structural != nil {
		v.cel = cel.NewValidator(structural, true, celconfig.PerCallLimit)
	}
	return nil
}

// schemaAt is the structural schema of the value at path (a field path as
// the pruner writes it: "spec.http[0].route"), nil when the schema does not
// say.
func schemaAt(root *structuralschema.Structural, path string) *structuralschema.Structural {
	s := root
	for _, segment := range splitPath(path) {
		if s == nil {
			return nil
		}
		if segment.index {
			s = s.Items
			continue
		}
		if property, ok := s.Properties[segment.name]; ok {
			s = &property
		} else if s.AdditionalProperties != nil {
			s = s.AdditionalProperties.Structural
		} else {
			return nil
		}
	}
	return s
}

// pathSegment is a field name or a list index of a field path.
type pathSegment struct {
	name  string
	index bool
}

// splitPath cuts "a.b[0].c" (or field.Path's "a[key].b") into segments; a
// bracketed segment that is not a number is a map key.
func splitPath(path string) []pathSegment {
	var segments []pathSegment
	for path != "" {
		switch path[0] {
		case '.':
			path = path[1:]
		case '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return append(segments, pathSegment{name: path})
			}
			inner := path[1:end]
			segments = append(segments, pathSegment{name: inner, index: isIndex(inner)})
			path = path[end+1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			segments = append(segments, pathSegment{name: path[:end]})
			path = path[end:]
		}
	}
	return segments
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// joinSegments writes segments back in the encoder's notation
// ("a.b[0].c"), map keys as fields.
func joinSegments(segments []pathSegment) string {
	var b strings.Builder
	for _, s := range segments {
		if s.index {
			b.WriteString("[" + s.name + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
	}
	return b.String()
}
