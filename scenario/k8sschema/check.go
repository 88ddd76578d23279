// Package k8sschema judges a scenario's manifests as the Kubernetes API
// server does before a controller sees them: a field the object's type does
// not have, a field given twice, or a value of the wrong type is a problem at
// the file:line of the offending field, with a did-you-mean for a misspelt
// name. kubectl's default field validation is strict, so the API server
// refuses such a manifest; the sim's own decoding is lenient and would pass
// it silently.
//
// The schema is the real API types of the pinned versions, not a list kept
// here: each document is sent through sigs.k8s.io/json's strict decoder (the
// API server's) into its Go type, as the JSON kubectl would send. Istio's
// specs are protobuf messages whose JSON decoding allows unknown fields, so
// they are judged against their message descriptors (see checkProto). Kinds
// not in the table below are left alone.
//
// For a custom resource the API server judges by the CRD's schema, which is
// generated from the same types but not always equal to them; where they
// differ this check follows the types, which is what the controller decodes
// (AR = github.com/argoproj/argo-rollouts@v1.10.2, FL =
// github.com/fluxcd/flagger@v1.44.0, as in the models):
//   - Argo Rollouts' CRDs keep unknown fields in a pod template's volumes and
//     resources (AR manifests/crds/rollout-crd.yaml, generated with
//     k8s.io/api v0.34): the API server lets a misspelt volume field through
//     and the controller drops it; this check reports it. Pod fields newer
//     than k8s v0.34 (httpGet.protocol, grpc.mode) pass here and not there.
//   - Flagger's CRD (FL artifacts/flagger/crd.yaml) is written by hand: it
//     types the analysis integers as numbers (2.5 passes the API server and
//     fails Flagger's decoding; reported here), has no analysis.match uri,
//     method or withoutHeaders, no service.trafficPolicy portLevelSettings
//     and no deprecated spec.canaryAnalysis (refused there, passed here), and
//     has a consistentHash.httpQueryParameterName the types lack (reported
//     here as unknown).
package k8sschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	rolloutsv1alpha1 "github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	flaggerv1beta1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
	istiov1 "istio.io/client-go/pkg/apis/networking/v1"
	istiov1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	istiov1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
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

// kinds are the types the API server decodes each kind into. Argo Rollouts'
// types come from the v1.10.1 module: its pkg/apis tree and its CRDs are
// byte for byte those of v1.10.2, the controller the sim models, whose go.mod
// asks for a newer Go (1.26.10) than the toolchain here. Flagger v1.44.0,
// Istio's client-go v1.32.0 and k8s.io/api v0.37.2 are as pinned in go.mod.
var kinds = map[typeKey]reflect.Type{
	{"argoproj.io/v1alpha1", "Rollout"}:                 reflect.TypeFor[rolloutsv1alpha1.Rollout](),
	{"argoproj.io/v1alpha1", "AnalysisTemplate"}:        reflect.TypeFor[rolloutsv1alpha1.AnalysisTemplate](),
	{"argoproj.io/v1alpha1", "ClusterAnalysisTemplate"}: reflect.TypeFor[rolloutsv1alpha1.ClusterAnalysisTemplate](),
	{"flagger.app/v1beta1", "Canary"}:                   reflect.TypeFor[flaggerv1beta1.Canary](),
	{"flagger.app/v1beta1", "MetricTemplate"}:           reflect.TypeFor[flaggerv1beta1.MetricTemplate](),
	{"networking.istio.io/v1alpha3", "VirtualService"}:  reflect.TypeFor[istiov1alpha3.VirtualService](),
	{"networking.istio.io/v1alpha3", "DestinationRule"}: reflect.TypeFor[istiov1alpha3.DestinationRule](),
	{"networking.istio.io/v1beta1", "VirtualService"}:   reflect.TypeFor[istiov1beta1.VirtualService](),
	{"networking.istio.io/v1beta1", "DestinationRule"}:  reflect.TypeFor[istiov1beta1.DestinationRule](),
	{"networking.istio.io/v1", "VirtualService"}:        reflect.TypeFor[istiov1.VirtualService](),
	{"networking.istio.io/v1", "DestinationRule"}:       reflect.TypeFor[istiov1.DestinationRule](),
	{"v1", "Service"}:                             reflect.TypeFor[corev1.Service](),
	{"v1", "ConfigMap"}:                           reflect.TypeFor[corev1.ConfigMap](),
	{"v1", "Secret"}:                              reflect.TypeFor[corev1.Secret](),
	{"apps/v1", "Deployment"}:                     reflect.TypeFor[appsv1.Deployment](),
	{"autoscaling/v1", "HorizontalPodAutoscaler"}: reflect.TypeFor[autoscalingv1.HorizontalPodAutoscaler](),
	{"autoscaling/v2", "HorizontalPodAutoscaler"}: reflect.TypeFor[autoscalingv2.HorizontalPodAutoscaler](),
}

// Known reports whether documents of this apiVersion and kind are judged.
func Known(apiVersion, kind string) bool {
	_, ok := kinds[typeKey{apiVersion, kind}]
	return ok
}

// maxAttempts bounds the decodes of one document: the decoder stops at the
// first wrong type, so each is reported, left out, and the rest decoded again.
const maxAttempts = 25

// Check judges every document of a known kind and returns the problems of
// all of them at once (a *scenario.InvalidError), or nil.
func Check(documents []scenario.Document) error {
	var problems scenario.Problems
	for _, document := range documents {
		problems = append(problems, CheckDocument(document)...)
	}
	return problems.Err()
}

// CheckDocument judges one document, its problems in line order; none for a
// kind with no known schema.
func CheckDocument(document scenario.Document) []scenario.Problem {
	typ, ok := kinds[typeKey{document.APIVersion, document.Kind}]
	if !ok || document.Node == nil {
		return nil
	}
	c := &checker{document: document, seen: map[string]bool{}, scalars: scalars{}}
	if _, err := encode(document.Node, nil, c.scalars); err != nil {
		c.report(document.Node, "%v", err)
		return c.problems
	}
	walk := walkTypes(document.Node, typ, c.scalars)
	skip := map[*yaml.Node]bool{}
	for _, s := range walk.protos {
		skip[s.node] = true
		message := reflect.New(s.typ).Interface().(proto.Message).ProtoReflect().Descriptor()
		checkProto(s.node, message, s.path, c.scalars, c.report)
	}
	for range maxAttempts {
		encoded, err := encode(document.Node, skip, c.scalars)
		if err != nil {
			c.report(document.Node, "%v", err)
			break
		}
		strictErrors, err := sigsjson.UnmarshalStrict(encoded.json, reflect.New(typ).Interface())
		if err == nil {
			for _, strictError := range strictErrors {
				c.strictError(encoded, walk, strictError)
			}
			break
		}
		node := c.decodeError(encoded, walk, skip, err)
		if node == nil || skip[node] {
			break
		}
		skip[node] = true
	}
	sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
	return c.problems
}

type checker struct {
	document scenario.Document
	problems []scenario.Problem
	seen     map[string]bool
	scalars  scalars
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
			c.report(s.node, "%s: expected %s, got %s%s", s.path, expected(typeError.Type), c.scalars.describe(s.node), quoteHint(s.node, c.scalars.jsonType(s.node)))
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
			c.report(s.node, "%s: expected %s, got %s%s", s.path, expected(s.typ), c.scalars.describe(s.node), detail)
			return s.node
		}
	}
	c.report(nil, "%v", err)
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
