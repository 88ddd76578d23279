package k8sschema

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/api/operation"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/features"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	sigsjson "sigs.k8s.io/json"

	"gopkg.in/yaml.v3"
)

// crdCheck is one custom resource on its way through the API server's
// create path, as a request with fieldValidation=Strict takes it.
type crdCheck struct {
	*checker
	crd     *crdInfo
	version *crdVersion
	encoded *encoding
	// reported holds the paths the schema found fault with: the typed
	// decode that follows does not report them again.
	reported map[string]bool
	// metaErr is the API server's error decoding metadata, if any; the
	// typed decode usually places it more precisely (metaPlaced).
	metaErr    error
	metaPlaced bool
}

// checkCustomResource judges a custom resource by its CRD's schema, in the
// API server's order: decode, coerce and prune (unknown fields), default,
// validate (schema, embedded metadata, list types, CEL rules).
func (c *checker) checkCustomResource(crd *crdInfo, versionName string, encoded *encoding) *crdCheck {
	version, err := crd.version(versionName)
	if err != nil {
		c.report(c.document.Node, "%v", err)
		return nil
	}
	if version == nil {
		c.unserved(crd, encoded)
		return nil
	}
	check := &crdCheck{checker: c, crd: crd, version: version, encoded: encoded, reported: map[string]bool{}}
	obj, ok := check.decode()
	if !ok {
		return check
	}
	unknown, metadata := check.coerce(obj)
	if !version.preserveUnknown {
		// AE pkg/apiserver/customresource_handler.go:1244 (unstructuredDefaulter)
		structuraldefaulting.Default(obj, version.structural)
	}
	if version.hasStatus {
		// AE pkg/registry/customresource/strategy.go:145-152: a create
		// cannot set status; it is dropped, not judged.
		delete(obj, "status")
	}
	for _, path := range unknown {
		check.unknownField(path)
	}
	for _, fieldErr := range check.validate(obj, metadata) {
		check.fieldError(fieldErr)
	}
	return check
}

// unserved reports an apiVersion the CRD does not serve, as kubectl does
// when the API server's discovery has no such kind in that version.
func (c *checker) unserved(crd *crdInfo, encoded *encoding) {
	served := crd.servedVersions()
	hint := "it serves none"
	if len(served) > 0 {
		hint = "it serves " + strings.Join(served, ", ")
	}
	c.report(encoded.keys["apiVersion"], "no matches for kind %q in version %q: the CRD %s (%s) does not serve that version; %s",
		c.document.Kind, c.document.APIVersion, crd.definition.Name, crd.source, hint)
}

// decode reads the JSON as the API server's strict decoder does
// (sigs.k8s.io/json, ints kept as int64): a field given twice is an error.
func (c *crdCheck) decode() (map[string]any, bool) {
	var obj map[string]any
	strictErrors, err := sigsjson.UnmarshalStrict(c.encoded.json, &obj)
	if err != nil {
		c.report(c.document.Node, "%v", err)
		return nil, false
	}
	for _, strictError := range strictErrors {
		c.strictError(c.encoded, &typedWalk{}, strictError)
	}
	return obj, obj != nil
}

// coerce is what the API server's decoder does after JSON (AE
// pkg/apiserver/customresource_handler.go:1402-1466, unstructuredSchemaCoercer.apply):
// metadata read strictly (its unknown fields), unknown fields pruned by
// the structural schema with their paths kept, non-nullable nulls dropped,
// embedded resources' metadata coerced. It returns the unknown paths and
// the metadata as decoded.
func (c *crdCheck) coerce(obj map[string]any) (unknown []string, metadata *metav1.ObjectMeta) {
	metadata, found, metaUnknown, err := schemaobjectmeta.GetObjectMetaWithOptions(obj, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		// The request fails here; the check goes on without metadata
		// to report the rest too.
		c.metaErr = err
		delete(obj, "metadata")
		metadata, found = nil, false
	}
	unknown = append(unknown, metaUnknown...)
	if c.version.preserveUnknown {
		return unknown, metadata
	}
	options := structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}
	unknown = append(unknown, structuralpruning.PruneWithOptions(obj, c.version.structural, true, options)...)
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, c.version.structural)
	coerceErr, embeddedUnknown := schemaobjectmeta.CoerceWithOptions(nil, obj, c.version.structural, false,
		schemaobjectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if coerceErr != nil {
		c.fieldError(coerceErr)
	}
	unknown = append(unknown, embeddedUnknown...)
	if found && metadata != nil {
		_ = schemaobjectmeta.SetObjectMeta(obj, metadata)
	}
	sort.Strings(unknown)
	return unknown, metadata
}

// validate is the create strategy's validation (AE
// pkg/registry/customresource/strategy.go:201-227 and validator.go:50-62):
// metadata, the OpenAPI schema, the scale subresource's replicas, embedded
// resources, list types, then the CEL rules within the default cost budget
// unless a blocking error came before (strategy.go:404-412).
func (c *crdCheck) validate(obj map[string]any, metadata *metav1.ObjectMeta) field.ErrorList {
	ctx := context.Background()
	var errs field.ErrorList
	if c.metaErr == nil { // else the request failed at decoding already
		errs = append(errs, c.validateMetadata(ctx, metadata)...)
	}
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, c.version.validator)...)
	// The scale subresource's check repeats a wrong type the schema
	// reported already (both come back from the API server); once is
	// enough here.
	if !hasErrorAt(errs, c.version.specReplicas) {
		errs = append(errs, validateSpecReplicas(obj, c.version.specReplicas)...)
	}
	if c.version.structural == nil {
		return errs
	}
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, obj, c.version.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, c.version.structural, obj)...)
	if c.version.cel == nil {
		return errs
	}
	if blocking := blockingError(errs); blocking != nil {
		return append(errs, blocking)
	}
	celErrs, _ := c.version.cel.Validate(ctx, nil, c.version.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

// validateMetadata is the create-time metadata validation (AE
// pkg/registry/customresource/validator.go:186-192). The API server fills
// in the namespace from the request and a name from generateName before
// it; so does this, as kubectl apply would.
func (c *crdCheck) validateMetadata(ctx context.Context, metadata *metav1.ObjectMeta) field.ErrorList {
	if metadata == nil {
		metadata = &metav1.ObjectMeta{}
	}
	meta := metadata.DeepCopy()
	if meta.Name == "" && meta.GenerateName != "" {
		meta.Name = meta.GenerateName + "x"
	}
	if meta.Namespace == "" && c.crd.namespaced() {
		meta.Namespace = metav1.NamespaceDefault
	}
	betaEnabled := utilfeature.DefaultFeatureGate.Enabled(features.DeclarativeValidationBeta)
	return metavalidation.ValidateObjectMetaDeclaratively(ctx, operation.Create, meta, nil, c.crd.namespaced(),
		metavalidation.NameIsDNSSubdomain, field.NewPath("metadata"), betaEnabled)
}

// validateSpecReplicas checks the scale subresource's replicas the way
// AE pkg/registry/customresource/validator.go:135-154 does.
func validateSpecReplicas(obj map[string]any, specReplicasPath string) field.ErrorList {
	if specReplicasPath == "" {
		return nil
	}
	path := strings.TrimPrefix(specReplicasPath, ".")
	replicas, _, err := unstructured.NestedInt64(obj, strings.Split(path, ".")...)
	switch {
	case err != nil:
		return field.ErrorList{field.Invalid(field.NewPath(specReplicasPath), replicas, err.Error())}
	case replicas < 0:
		return field.ErrorList{field.Invalid(field.NewPath(specReplicasPath), replicas, "should be a non-negative integer")}
	case replicas > math.MaxInt32:
		return field.ErrorList{field.Invalid(field.NewPath(specReplicasPath), replicas, fmt.Sprintf("should be less than or equal to %v", math.MaxInt32))}
	}
	return nil
}

// hasErrorAt reports whether errs has one at the path given in the
// scale subresource's notation (".spec.replicas").
func hasErrorAt(errs field.ErrorList, specReplicasPath string) bool {
	for _, err := range errs {
		if "."+err.Field == specReplicasPath {
			return true
		}
	}
	return false
}

// blockingError is the API server's note that CEL rules were skipped:
// after a wrong type, a missing required field, an unsupported enum value
// or a size limit they would run on a value of the wrong shape.
func blockingError(errs field.ErrorList) *field.Error {
	for _, err := range errs {
		switch err.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return nil
}

// unknownField reports a field the schema does not have (strict field
// validation's "unknown field"), with a did-you-mean from the names the
// schema has at that level.
func (c *crdCheck) unknownField(path string) {
	segments := splitPath(path)
	if len(segments) == 0 {
		return
	}
	parent := joinSegments(segments[:len(segments)-1])
	known, owner := c.knownFields(parent)
	c.reported[joinSegments(segments)] = true
	c.report(c.nodeAt(path), "%s", unknownFieldMessage(path, known, owner))
}

// knownFields names the fields the schema has at parent, and what it is.
func (c *crdCheck) knownFields(parent string) ([]string, string) {
	if parent == "metadata" || strings.HasSuffix(parent, ".metadata") {
		s := schemaAt(c.version.structural, parent)
		if s == nil || len(s.Properties) == 0 {
			var names []string
			for name := range jsonFields(reflect.TypeFor[metav1.ObjectMeta]()) {
				names = append(names, name)
			}
			return names, parent + " (ObjectMeta)"
		}
	}
	owner := parent
	if owner == "" {
		owner = "the object"
	}
	owner += " in the schema of " + c.crd.definition.Name + "/" + c.version.spec.Name
	var names []string
	if s := schemaAt(c.version.structural, parent); s != nil {
		for name := range s.Properties {
			names = append(names, name)
		}
		if parent == "" {
			names = append(names, "apiVersion", "kind", "metadata")
		}
	}
	return names, owner
}

// fieldError reports a validation error as the API server words it, at
// the line of the field it names.
func (c *crdCheck) fieldError(err *field.Error) {
	if err.Field == "<nil>" { // field.Path's String of a nil path
		err = &field.Error{Type: err.Type, BadValue: err.BadValue, Detail: err.Detail}
	}
	where := errorPath(err)
	path := joinSegments(splitPath(where))
	if path != "" {
		c.reported[path] = true
	}
	message := err.Error()
	switch {
	case where == "" && err.BadValue == nil:
		message = err.Detail // the note that CEL rules were skipped
	case err.Field == "":
		message = err.ErrorBody()
	}
	if value := c.encoded.valueAt(path); value != nil && err.Type == field.ErrorTypeTypeInvalid {
		message += quoteHint(value, c.scalars.jsonType(value))
	}
	c.report(c.nodeAt(where), "%s", message)
}

// errorPath is the field an error is about. kube-openapi leaves the path
// of a oneOf, anyOf or not failure empty and quotes it in the detail
// ("\"spec.analysis\" must validate one and only one schema (oneOf)").
func errorPath(err *field.Error) string {
	if err.Field != "" || !strings.HasPrefix(err.Detail, "\"") {
		return err.Field
	}
	if end := strings.IndexByte(err.Detail[1:], '"'); end >= 0 {
		return err.Detail[1 : end+1]
	}
	return ""
}

// nodeAt is the node a problem at path is reported on: the key that names
// the field, else the value (a list item), else the nearest ancestor that
// was written.
func (c *crdCheck) nodeAt(path string) *yaml.Node {
	segments := splitPath(path)
	for len(segments) > 0 {
		p := joinSegments(segments)
		if key, ok := c.encoded.keys[p]; ok {
			return key
		}
		if value := c.encoded.valueAt(p); value != nil {
			return value
		}
		segments = segments[:len(segments)-1]
	}
	return c.document.Node
}

// covers reports whether the schema already found fault with path, one of
// its ancestors or something inside it.
func (c *crdCheck) covers(path string) bool {
	path = joinSegments(splitPath(path))
	for reported := range c.reported {
		if reported == "" || reported == path || strings.HasPrefix(path, reported+".") || strings.HasPrefix(path, reported+"[") ||
			strings.HasPrefix(reported, path+".") || strings.HasPrefix(reported, path+"[") {
			return true
		}
	}
	return false
}
