// Package k8sschema judges a scenario's manifests as the Kubernetes API
// server does before a controller sees them, the way `kubectl apply` sends
// them (fieldValidation=Strict, kubectl's default): every problem at the
// file:line of the offending field, with a did-you-mean for a misspelt
// field name. The sim's own decoding is lenient and would pass them
// silently.
//
// What judges what:
//
//   - A custom resource (Argo Rollouts' Rollout, AnalysisTemplate,
//     ClusterAnalysisTemplate, AnalysisRun, Experiment; Flagger's Canary,
//     MetricTemplate, AlertProvider; every Istio kind of every served
//     version) is judged by its CRD's OpenAPI v3 schema with
//     k8s.io/apiextensions-apiserver's own code, in the order of a create
//     (crdcheck.go, each step citing its source): strict JSON decoding
//     (a field given twice), ObjectMeta read strictly, pruning by the
//     structural schema (each pruned field an "unknown field"), defaulting,
//     then the OpenAPI schema validation (types, enums, formats, oneOf,
//     anyOf, required), metadata and embedded resources, the scale
//     subresource's replicas, x-kubernetes-list-type map/set, and the
//     x-kubernetes-validations CEL rules within the API server's cost
//     budget. An apiVersion the CRD does not serve is "no matches for kind".
//     Messages are the API server's. The CRDs are read at run time from the
//     module cache, never copied here (crds.go): AR
//     github.com/argoproj/argo-rollouts@v1.10.1
//     manifests/crds/{rollout,analysis-template,cluster-analysis-template,analysis-run,experiment}-crd.yaml,
//     FL github.com/fluxcd/flagger@v1.44.0 artifacts/flagger/crd.yaml,
//     istio.io/api@v1.31.1 kubernetes/customresourcedefinitions.gen.yaml,
//     at the versions of the build info (go.mod's; modules.go).
//   - What the CRD lets through, the controller still has to decode: a
//     Rollout or an analysis template is then decoded into Argo Rollouts'
//     Go types (v1.10.1's pkg/apis, identical to v1.10.2's, the controller
//     the sim models), a Canary or MetricTemplate into Flagger's. A value
//     the CRD accepts and the types cannot take is reported as such: FL's
//     CRD types the analysis integers as numbers (2.5 is stored, Flagger
//     cannot read it); AR's CRDs keep a pod template's resources unpruned
//     and unvalidated (a quantity "lots" is stored, the controller cannot
//     read it). Unknown fields are the CRD's business only: a field the
//     types have and the CRD lacks (FL's analysis.match uri) is pruned, so
//     unknown; one the CRD keeps and the types lack is not.
//   - ObjectMeta is decoded strictly into its Go type, as the API server
//     does for every object (a label value that YAML 1.1 reads as a
//     boolean is reported at its line).
//   - A built-in kind (Service, ConfigMap, Secret, Deployment,
//     HorizontalPodAutoscaler) is decoded with the API server's strict
//     decoder (sigs.k8s.io/json) into its k8s.io/api v0.37.2 type, as the
//     JSON kubectl would send.
//   - Other kinds are left alone.
//
// kubectl reads YAML 1.1 (sigs.k8s.io/yaml), so an unquoted yes, on or 0x1F
// is a boolean or a number there where a reader sees a string; encode.go
// sends each document as kubectl would, and the messages say so.
package k8sschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	flaggerv1beta1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"

	"github.com/canarylab/canarylab/scenario"
)

type typeKey struct{ apiVersion, kind string }

// kinds are the built-in types the API server decodes each kind into
// (k8s.io/api v0.37.2 as pinned in go.mod): the API server judges them by
// these Go types.
var kinds = map[typeKey]reflect.Type{
	{"v1", "Service"}:                             reflect.TypeFor[corev1.Service](),
	{"v1", "ConfigMap"}:                           reflect.TypeFor[corev1.ConfigMap](),
	{"v1", "Secret"}:                              reflect.TypeFor[corev1.Secret](),
	{"apps/v1", "Deployment"}:                     reflect.TypeFor[appsv1.Deployment](),
	{"autoscaling/v1", "HorizontalPodAutoscaler"}: reflect.TypeFor[autoscalingv1.HorizontalPodAutoscaler](),
	{"autoscaling/v2", "HorizontalPodAutoscaler"}: reflect.TypeFor[autoscalingv2.HorizontalPodAutoscaler](),
}

// controllerType is the Go type a controller decodes a custom resource
// into, once the API server has stored it.
type controllerType struct {
	typ        reflect.Type
	controller string
}

// controllerKinds are the custom resources of the controllers canarylab
// models. Their CRDs judge them; the controller's own decoding is then
// checked too, for what the CRD lets through and the controller cannot
// read (Flagger's analysis integers given as 2.5: its CRD types them as
// numbers). Argo Rollouts' types come from the v1.10.1 module: its pkg/apis
// tree and its CRDs are byte for byte those of v1.10.2, the controller the
// sim models, whose go.mod asks for a newer Go (1.26.10) than the toolchain
// here. Istio's resources are read by istiod, which canarylab does not
// model, from the protobuf JSON the CRD already types.
//
// The Argo Rollouts controller reads its objects tolerantly: what its
// types cannot decode (a bad quantity in a pod template's resources, which
// the CRD keeps as it comes) is logged as a malformed object and the rest
// used (AR utils/tolerantinformer/tollerantinformer.go:67-87; its e2e
// expects such a Rollout Healthy, AR test/e2e/functional_test.go:423-431),
// so only ObjectMeta is decoded strictly for its kinds (controller "").
var controllerKinds = map[typeKey]controllerType{
	{"argoproj.io/v1alpha1", "Rollout"}:                 {reflect.TypeFor[rolloutsv1alpha1.Rollout](), ""},
	{"argoproj.io/v1alpha1", "AnalysisTemplate"}:        {reflect.TypeFor[rolloutsv1alpha1.AnalysisTemplate](), ""},
	{"argoproj.io/v1alpha1", "ClusterAnalysisTemplate"}: {reflect.TypeFor[rolloutsv1alpha1.ClusterAnalysisTemplate](), ""},
	{"argoproj.io/v1alpha1", "AnalysisRun"}:             {reflect.TypeFor[rolloutsv1alpha1.AnalysisRun](), ""},
	{"argoproj.io/v1alpha1", "Experiment"}:              {reflect.TypeFor[rolloutsv1alpha1.Experiment](), ""},
	{"flagger.app/v1beta1", "Canary"}:                   {reflect.TypeFor[flaggerv1beta1.Canary](), "Flagger"},
	{"flagger.app/v1beta1", "MetricTemplate"}:           {reflect.TypeFor[flaggerv1beta1.MetricTemplate](), "Flagger"},
	{"flagger.app/v1beta1", "AlertProvider"}:            {reflect.TypeFor[flaggerv1beta1.AlertProvider](), "Flagger"},
}

// metadataOnly is what the API server decodes strictly in every custom
// resource whatever its schema: the type meta and the ObjectMeta.
var metadataOnly = reflect.TypeFor[metav1.PartialObjectMetadata]()

// Known reports whether documents of this apiVersion and kind are judged:
// a built-in kind of the table, or a custom resource whose CRD one of the
// pinned modules defines and serves in that version. Finding out may read
// the CRD's file (once per process).
func Known(apiVersion, kind string) bool {
	if _, ok := kinds[typeKey{apiVersion, kind}]; ok {
		return true
	}
	group, version := splitAPIVersion(apiVersion)
	crd, found, err := lookupCRD(group, kind)
	if err != nil || !found {
		return false
	}
	served, err := crd.version(version)
	return err == nil && served != nil
}

// splitAPIVersion cuts "group/version"; the core group is "".
func splitAPIVersion(apiVersion string) (group, version string) {
	if cut := strings.LastIndexByte(apiVersion, '/'); cut >= 0 {
		return apiVersion[:cut], apiVersion[cut+1:]
	}
	return "", apiVersion
}

// maxAttempts bounds the decodes of one document: the decoder stops at the
// first wrong type, so each is reported, left out, and the rest decoded again.
const maxAttempts = 25

// Check judges every document of a known kind and returns the problems of
// all of them at once (a *scenario.InvalidError), or nil. Documents are
// judged side by side, on as many goroutines as the process runs at once:
// the first judgement of a kind builds its CRD's validators (a Rollout's
// and a DestinationRule's take tens of milliseconds each), and a
// scenario's kinds need not wait for each other. Problems keep the
// documents' order.
func Check(documents []scenario.Document) error {
	found := make([][]scenario.Problem, len(documents))
	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, document := range documents {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			found[i] = CheckDocument(document)
		})
	}
	wg.Wait()
	var problems scenario.Problems
	for _, list := range found {
		problems = append(problems, list...)
	}
	return problems.Err()
}

// CheckDocument judges one document, its problems in line order; none for a
// kind with no known schema. A document judged before in this process is
// not judged again (see verdicts).
func CheckDocument(document scenario.Document) []scenario.Problem {
	if document.Node == nil {
		return nil
	}
	if len(document.Raw) == 0 {
		return checkDocument(document) // a document built in Go: no text to know it by
	}
	if problems, ok := recall(document); ok {
		return problems
	}
	problems := checkDocument(document)
	remember(document, problems)
	return problems
}

func checkDocument(document scenario.Document) []scenario.Problem {
	group, version := splitAPIVersion(document.APIVersion)
	crd, isCustom, lookupErr := lookupCRD(group, document.Kind)
	typ, isBuiltin := kinds[typeKey{document.APIVersion, document.Kind}]
	if !isCustom && !isBuiltin && lookupErr == nil {
		return nil
	}
	c := &checker{document: document, seen: map[string]bool{}, scalars: scalars{}}
	encoded, err := encode(document.Node, nil, c.scalars)
	switch {
	case err != nil:
		c.report(document.Node, "%v", err)
	case lookupErr != nil:
		c.report(document.Node, "%v", lookupErr)
	case isCustom:
		c.customResource(crd, version, encoded)
	default:
		c.typed(typ, true, encoded)
	}
	sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
	return c.problems
}

// customResource judges a custom resource by its CRD, then decodes it into
// the type its controller reads (ObjectMeta alone for other kinds) for
// what the schema let through and the decoding refuses.
func (c *checker) customResource(crd *crdInfo, version string, encoded *encoding) {
	check := c.checkCustomResource(crd, version, encoded)
	if check == nil {
		return
	}
	target, ok := controllerKinds[typeKey{c.document.APIVersion, c.document.Kind}]
	if !ok {
		target = controllerType{typ: metadataOnly}
	}
	c.onTyped = func(node *yaml.Node, path, message string) {
		check.typedProblem(node, path, message, target.controller)
	}
	c.typed(target.typ, false, encoded)
	c.onTyped = nil
	if check.metaErr != nil && !check.metaPlaced {
		c.report(encoded.keys["metadata"], "metadata: %v", check.metaErr)
	}
}

// typedProblem keeps a problem of the typed decode of a custom resource:
// in metadata it is the API server's own (it decodes ObjectMeta strictly);
// elsewhere it is the controller's, unless the schema found fault there
// already.
func (c *crdCheck) typedProblem(node *yaml.Node, path, message, controller string) {
	if path == "metadata" || strings.HasPrefix(path, "metadata.") {
		c.metaPlaced = true
		c.report(node, "%s", message)
		return
	}
	if c.covers(path) || controller == "" {
		return
	}
	c.report(node, "%s: the API server accepts it (the CRD's schema lets it through), but %s cannot decode it", message, controller)
}

// typed decodes the document into typ with the API server's strict JSON
// decoder, reporting each wrong type at its value; strict also reports the
// unknown and duplicate fields (a built-in kind's are judged this way).
// The document's full encoding is given; a value left out after a wrong
// type is encoded afresh.
func (c *checker) typed(typ reflect.Type, strict bool, encoded *encoding) {
	walk := walkTypes(c.document.Node, typ, c.scalars)
	skip := map[*yaml.Node]bool{}
	for attempt := range maxAttempts {
		if attempt > 0 {
			var err error
			if encoded, err = encode(c.document.Node, skip, c.scalars); err != nil {
				c.report(c.document.Node, "%v", err)
				return
			}
		}
		strictErrors, err := sigsjson.UnmarshalStrict(encoded.json, reflect.New(typ).Interface())
		if err == nil {
			if strict {
				for _, strictError := range strictErrors {
					c.strictError(encoded, walk, strictError)
				}
			}
			return
		}
		node := c.decodeError(encoded, walk, skip, err)
		if node == nil || skip[node] {
			return
		}
		skip[node] = true
	}
}

type checker struct {
	document scenario.Document
	problems []scenario.Problem
	seen     map[string]bool
	scalars  scalars
	// onTyped, when set, takes the typed decode's problems instead of
	// report (see customResource).
	onTyped func(node *yaml.Node, path, message string)
}

// report records a problem at node's line, naming the object.
func (c *checker) report(node *yaml.Node, format string, args ...any) {
	line := c.document.Line
	if node != nil && node.Line > 0 {
		line = node.Line
	}
	message := fmt.Sprintf("%s %s: %s", c.document.Kind, c.document.Name, fmt.Sprintf(format, args...))
	if key := fmt.Sprint(line, message); !c.seen[key] {
		c.seen[key] = true
		c.problems = append(c.problems, scenario.Problem{File: c.document.File, Line: line, Message: message})
	}
}

// typedReport reports a problem of the typed decode at path.
func (c *checker) typedReport(node *yaml.Node, path, format string, args ...any) {
	if c.onTyped != nil {
		c.onTyped(node, path, fmt.Sprintf(format, args...))
		return
	}
	c.report(node, format, args...)
}

// strictError reports an unknown or duplicate field at its key's line.
func (c *checker) strictError(encoded *encoding, walk *typedWalk, err error) {
	var fieldError sigsjson.FieldError
	if !errors.As(err, &fieldError) {
		c.report(nil, "%v", err)
		return
	}
	path := fieldError.FieldPath()
	key := encoded.keys[path]
	if !strings.HasPrefix(err.Error(), "unknown field") {
		c.report(key, "duplicate field %q: a field is given once", path)
		return
	}
	var known []string
	owner := c.document.APIVersion + " " + c.document.Kind
	if structType, ok := walk.structs[encoded.parents[key]]; ok {
		for name := range jsonFields(structType) {
			known = append(known, name)
		}
		owner = structType.String()
	}
	c.report(key, "%s", unknownFieldMessage(path, known, owner))
}

// decodeError reports what stopped the decoder and returns the value to
// leave out before decoding again (nil when it cannot be placed).
func (c *checker) decodeError(encoded *encoding, walk *typedWalk, skip map[*yaml.Node]bool, err error) *yaml.Node {
	var typeError *json.UnmarshalTypeError
	if errors.As(err, &typeError) && typeError.Field != "" {
		kind := yaml.ScalarNode
		switch typeError.Value {
		case "object":
			kind = yaml.MappingNode
		case "array":
			kind = yaml.SequenceNode
		}
		if s := encoded.innermost(int(typeError.Offset), kind); s != nil && s.node != c.document.Node {
			c.typedReport(s.node, s.path, "%s: expected %s, got %s%s", s.path, expected(typeError.Type), c.scalars.describe(s.node), quoteHint(s.node, c.scalars.jsonType(s.node)))
			return s.node
		}
	}
	// An error of a type that decodes itself carries no position: find
	// the value by decoding each such value alone.
	for _, s := range walk.unmarshalers {
		if skip[s.node] {
			continue
		}
		value, err := encode(s.node, skip, c.scalars)
		if err != nil {
			continue
		}
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(value.json, reflect.New(s.typ).Interface()); err != nil {
			detail := ""
			if _, known := wellKnown[s.typ]; !known {
				detail = ": " + err.Error()
			}
			c.typedReport(s.node, s.path, "%s: expected %s, got %s%s", s.path, expected(s.typ), c.scalars.describe(s.node), detail)
			return s.node
		}
	}
	c.typedReport(nil, "", "%v", err)
	return nil
}

// wellKnown names the self-decoding types a manifest meets most.
var wellKnown = map[reflect.Type]string{
	reflect.TypeFor[intstr.IntOrString](): "an integer or a string",
	reflect.TypeFor[resource.Quantity]():  "a quantity (such as 250m, 1.5 or 1Gi)",
	reflect.TypeFor[metav1.Time]():        "a time (RFC 3339)",
	reflect.TypeFor[metav1.MicroTime]():   "a time (RFC 3339)",
	reflect.TypeFor[metav1.Duration]():    "a duration (such as 30s)",
}

// expected names what a Go type takes, in JSON's words.
func expected(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := wellKnown[t]; ok {
		return name
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "a list"
	}
	return "a value of type " + t.String()
}
