package k8sschema

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

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
