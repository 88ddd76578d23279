package k8sschema

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"
)

// checkProto judges a value against a protobuf message: Istio's specs are
// protobuf messages whose generated UnmarshalJSON allows unknown fields
// (istio.io/api networking/v1alpha3 *_json.gen.go: AllowUnknownFields), so
// the strict JSON decoder cannot see into them. Their CRDs are generated from
// the same messages (a property per field by its JSON name, integers for the
// integer kinds, strings for enums with the enum's names, the well-known
// wrappers as their scalar), so the message descriptor is the schema.
func checkProto(node *yaml.Node, message protoreflect.MessageDescriptor, path string, scalars scalars, report reporter) {
	c := protoChecker{report: report, scalars: scalars}
	c.message(node, message, path, 0)
}

type reporter func(node *yaml.Node, format string, args ...any)

type protoChecker struct {
	report  reporter
	scalars scalars
	visited int
}

func (c *protoChecker) message(node *yaml.Node, message protoreflect.MessageDescriptor, path string, depth int) {
	c.visited++
	if depth > maxDepth || c.visited > maxNodes {
		return
	}
	node = resolveAlias(node)
	if c.scalars.isNull(node) {
		return
	}
	switch message.FullName() {
	case "google.protobuf.Struct", "google.protobuf.Any":
		c.expect(node, path, yaml.MappingNode, "an object")
		return
	case "google.protobuf.Value":
		return
	case "google.protobuf.ListValue":
		c.expect(node, path, yaml.SequenceNode, "a list")
		return
	case "google.protobuf.Duration", "google.protobuf.Timestamp", "google.protobuf.FieldMask":
		c.scalar(node, path, "string")
		return
	case "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value", "google.protobuf.Int64Value",
		"google.protobuf.UInt64Value", "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		c.singular(node, message.Fields().ByName("value"), path, depth)
		return
	}
	if !c.expect(node, path, yaml.MappingNode, "an object") {
		return
	}
	fields := message.Fields()
	seen := map[string]bool{}
	for _, p := range mappingPairs(node) {
		name := keyText(p.key)
		child := join(path, name)
		if seen[name] {
			c.report(p.key, "duplicate field %q: a field is given once", child)
			continue
		}
		seen[name] = true
		// protojson, which Istio decodes with, also takes the proto name;
		// the CRDs keep the one deprecated snake_case name (mirror_percent).
		field := fields.ByJSONName(name)
		if field == nil {
			field = fields.ByTextName(name)
		}
		if field == nil {
			var names []string
			for i := range fields.Len() {
				names = append(names, fields.Get(i).JSONName())
			}
			c.report(p.key, "%s", unknownFieldMessage(child, names, string(message.FullName())))
			continue
		}
		switch {
		case field.IsList():
			value := resolveAlias(p.value)
			if c.scalars.isNull(value) || !c.expect(value, child, yaml.SequenceNode, "a list") {
				continue
			}
			for i, item := range value.Content {
				c.singular(item, field, indexPath(child, i), depth+1)
			}
		case field.IsMap():
			value := resolveAlias(p.value)
			if c.scalars.isNull(value) || !c.expect(value, child, yaml.MappingNode, "an object") {
				continue
			}
			for _, entry := range mappingPairs(value) {
				c.singular(entry.value, field.MapValue(), join(child, keyText(entry.key)), depth+1)
			}
		default:
			c.singular(p.value, field, child, depth+1)
		}
	}
}

// singular judges one value of a field (an item of a list, a value of a map).
func (c *protoChecker) singular(node *yaml.Node, field protoreflect.FieldDescriptor, path string, depth int) {
	node = resolveAlias(node)
	if c.scalars.isNull(node) {
		return
	}
	switch field.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		c.message(node, field.Message(), path, depth+1)
	case protoreflect.EnumKind:
		if !c.scalar(node, path, "string") {
			return
		}
		values := field.Enum().Values()
		if values.ByName(protoreflect.Name(node.Value)) == nil {
			var names []string
			for i := range values.Len() {
				names = append(names, string(values.Get(i).Name()))
			}
			c.report(node, "%s: unsupported value %q: one of %s", path, node.Value, strings.Join(names, ", "))
		}
	case protoreflect.BoolKind:
		c.scalar(node, path, "boolean")
	case protoreflect.StringKind, protoreflect.BytesKind:
		c.scalar(node, path, "string")
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		c.scalar(node, path, "number")
	default:
		c.scalar(node, path, "integer")
	}
}

func (c *protoChecker) expect(node *yaml.Node, path string, kind yaml.Kind, want string) bool {
	if node.Kind == kind {
		return true
	}
	c.report(node, "%s: expected %s, got %s", path, want, c.scalars.describe(node))
	return false
}

// scalar checks a scalar's JSON type as the CRD's schema types it.
func (c *protoChecker) scalar(node *yaml.Node, path, want string) bool {
	got := c.scalars.jsonType(node)
	if got == want || (want == "number" && got == "integer") {
		return true
	}
	article := "a"
	if want == "integer" {
		article = "an"
	}
	c.report(node, "%s: expected %s %s, got %s%s", path, article, want, c.scalars.describe(node), quoteHint(node, got))
	return false
}

// jsonType is the JSON Schema type of a value as kubectl sends it.
func (s scalars) jsonType(node *yaml.Node) string {
	node = resolveAlias(node)
	switch node.Kind {
	case yaml.MappingNode:
		return "object"
	case yaml.SequenceNode:
		return "array"
	}
	text := s.json(node)
	switch {
	case len(text) == 0:
		return "null"
	case text[0] == '"':
		return "string"
	case text[0] == 't' || text[0] == 'f':
		return "boolean"
	case text[0] == 'n':
		return "null"
	case strings.ContainsAny(string(text), ".eE"):
		return "number"
	}
	return "integer"
}

// describe says what a value is, as a message's "got ...".
func (s scalars) describe(node *yaml.Node) string {
	node = resolveAlias(node)
	switch node.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	}
	text := string(s.json(node))
	switch s.jsonType(node) {
	case "string":
		return "string " + text
	case "boolean":
		return "boolean " + text
	case "null":
		return "null"
	}
	return "number " + text
}

// quoteHint explains an unquoted word that kubectl's YAML 1.1 reads as a
// boolean or number where yaml.v3 (and a reader's eye) sees a string, and a
// .nan or .inf, which no JSON body can carry (scalarJSON sends its text).
func quoteHint(node *yaml.Node, got string) string {
	if node.Kind == yaml.ScalarNode && node.Style == 0 && node.Tag == "!!float" && got == "string" {
		return " (JSON has no NaN or infinity: kubectl cannot send it)"
	}
	if node.Kind == yaml.ScalarNode && node.Style == 0 && node.Tag == "!!str" && got != "string" {
		article := "a"
		if got == "integer" {
			article = "an"
		}
		return fmt.Sprintf(" (kubectl reads an unquoted %s as YAML 1.1, %s %s: quote it if a string is meant)", node.Value, article, got)
	}
	return ""
}
