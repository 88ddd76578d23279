package k8sschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"gopkg.in/yaml.v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// Limits on one document's JSON, so that aliases (a YAML "billion laughs")
// cannot make the check run away.
const (
	maxDepth = 200
	maxNodes = 200_000
)

var errTooLarge = errors.New("the document nests deeper than 200 levels or expands to more than 200000 values (YAML aliases?): refused rather than expanded")

// span is where one YAML value landed in the JSON, with its field path.
type span struct {
	start, end int
	node       *yaml.Node
	path       string
}

// encoding is a document as the API server receives it: the JSON kubectl
// sends (YAML 1.1 scalars, aliases and merge keys resolved), with where each
// value and key came from.
type encoding struct {
	json  []byte
	spans []span
	// keys maps a field path ("spec.template.spec.containers[0].image") to
	// the key node that names it: the line a problem with the field is on.
	keys map[string]*yaml.Node
	// parents maps a key node to the mapping that holds it, for did-you-mean.
	parents map[*yaml.Node]*yaml.Node
	// values maps a field path to its value node, built at first need.
	values map[string]*yaml.Node
}

// valueAt is the value node written at path, nil when none was.
func (enc *encoding) valueAt(path string) *yaml.Node {
	if enc.values == nil {
		enc.values = make(map[string]*yaml.Node, len(enc.spans))
		for _, s := range enc.spans {
			enc.values[s.path] = s.node
		}
	}
	return enc.values[path]
}

type encoder struct {
	buf     bytes.Buffer
	out     *encoding
	skip    map[*yaml.Node]bool
	scalars scalars
	visited int
}

// encode writes node as JSON, leaving out the values in skip (a skipped
// mapping value drops its key too; a skipped list item becomes null so that
// the indices of the others hold).
func encode(node *yaml.Node, skip map[*yaml.Node]bool, scalars scalars) (*encoding, error) {
	e := &encoder{out: &encoding{keys: map[string]*yaml.Node{}, parents: map[*yaml.Node]*yaml.Node{}}, skip: skip, scalars: scalars}
	if err := e.value(node, "", 0); err != nil {
		return nil, err
	}
	e.out.json = e.buf.Bytes()
	return e.out, nil
}

func (e *encoder) value(node *yaml.Node, path string, depth int) error {
	e.visited++
	if depth > maxDepth || e.visited > maxNodes {
		return errTooLarge
	}
	node = resolveAlias(node)
	start := e.buf.Len()
	switch node.Kind {
	case yaml.MappingNode:
		e.buf.WriteByte('{')
		first := true
		for _, pair := range mappingPairs(node) {
			if e.skip[resolveAlias(pair.value)] {
				continue
			}
			if !first {
				e.buf.WriteByte(',')
			}
			first = false
			name := keyText(pair.key)
			child := name
			if path != "" {
				child = path + "." + name
			}
			e.out.keys[child] = pair.key
			e.out.parents[pair.key] = node
			quoted, _ := json.Marshal(name)
			e.buf.Write(quoted)
			e.buf.WriteByte(':')
			if err := e.value(pair.value, child, depth+1); err != nil {
				return err
			}
		}
		e.buf.WriteByte('}')
	case yaml.SequenceNode:
		e.buf.WriteByte('[')
		for i, item := range node.Content {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			if e.skip[resolveAlias(item)] {
				e.buf.WriteString("null")
				continue
			}
			if err := e.value(item, indexPath(path, i), depth+1); err != nil {
				return err
			}
		}
		e.buf.WriteByte(']')
	case yaml.ScalarNode:
		e.buf.Write(e.scalars.json(node))
	default: // an empty document or a dangling alias
		e.buf.WriteString("null")
	}
	e.out.spans = append(e.out.spans, span{start: start, end: e.buf.Len(), node: node, path: path})
	return nil
}

// innermost is the deepest value of the kind given whose JSON covers
// offset: where encoding/json's UnmarshalTypeError.Offset points (the end of
// a scalar, or just inside an object or list it could not take, which is
// also where the list's first item starts).
func (enc *encoding) innermost(offset int, kind yaml.Kind) *span {
	var best *span
	for i := range enc.spans {
		s := &enc.spans[i]
		if s.node.Kind != kind {
			continue
		}
		if s.start <= offset && offset <= s.end && (best == nil || s.start > best.start ||
			(s.start == best.start && s.end < best.end)) {
			best = s
		}
	}
	return best
}

// spanOf is the span of a value node (nil when it was not written).
func (enc *encoding) spanOf(node *yaml.Node) *span {
	for i := range enc.spans {
		if enc.spans[i].node == node {
			return &enc.spans[i]
		}
	}
	return nil
}

type pair struct{ key, value *yaml.Node }

// mappingPairs is a mapping's key/value pairs with YAML merge keys ("<<")
// resolved as kubectl's YAML 1.1 reader does: keys written in the mapping
// win over merged ones, and an earlier merged mapping over a later one.
func mappingPairs(node *yaml.Node) []pair {
	var explicit, merged []pair
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, value := node.Content[i], node.Content[i+1]
		if key.Kind == yaml.ScalarNode && key.Tag == "!!merge" {
			merged = append(merged, mergeSources(value)...)
			continue
		}
		explicit = append(explicit, pair{key, value})
	}
	if len(merged) == 0 {
		return explicit
	}
	seen := map[string]bool{}
	for _, p := range explicit {
		seen[keyText(p.key)] = true
	}
	pairs := explicit
	for _, p := range merged {
		if name := keyText(p.key); !seen[name] {
			seen[name] = true
			pairs = append(pairs, p)
		}
	}
	return pairs
}

func mergeSources(value *yaml.Node) []pair {
	value = resolveAlias(value)
	switch value.Kind {
	case yaml.MappingNode:
		return mappingPairs(value)
	case yaml.SequenceNode:
		var pairs []pair
		for _, item := range value.Content {
			if item = resolveAlias(item); item.Kind == yaml.MappingNode {
				pairs = append(pairs, mappingPairs(item)...)
			}
		}
		return pairs
	}
	return nil
}

func resolveAlias(node *yaml.Node) *yaml.Node {
	for hops := 0; node.Kind == yaml.AliasNode && node.Alias != nil && hops < maxDepth; hops++ {
		node = node.Alias
	}
	return node
}

// keyText is a key as a JSON object key.
func keyText(key *yaml.Node) string {
	key = resolveAlias(key)
	if key.Kind != yaml.ScalarNode {
		return "<" + kindWord(key) + ">"
	}
	return key.Value
}

// scalars caches each scalar's JSON for one document: aliases repeat nodes,
// and the document is encoded again after each wrong type.
type scalars map[*yaml.Node][]byte

func (s scalars) json(node *yaml.Node) []byte {
	if text, ok := s[node]; ok {
		return text
	}
	text := scalarJSON(node)
	s[node] = text
	return text
}

// yaml11Hints are the first characters with which a plain scalar can be
// anything but a string to YAML 1.1 (go.yaml.in/yaml/v2 resolve.go, the
// resolveTable its resolve dispatches on): any other is a string.
const yaml11Hints = "+-0123456789yYnNtTfFoO~."

// scalarJSON is a scalar as kubectl sends it. kubectl reads manifests as
// YAML 1.1 (sigs.k8s.io/yaml), so an unquoted yes, on or 0x1F is a boolean
// or a number there even where yaml.v3 reads a string; quoted and block
// scalars are strings.
func scalarJSON(node *yaml.Node) []byte {
	str := func() []byte {
		quoted, _ := json.Marshal(node.Value)
		return quoted
	}
	if node.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return str()
	}
	if node.Style&yaml.TaggedStyle != 0 {
		switch node.Tag {
		case "!!int", "!!float", "!!bool", "!!null":
		default:
			return str()
		}
	}
	if node.Value == "" {
		return []byte("null")
	}
	if !strings.ContainsRune(yaml11Hints, rune(node.Value[0])) && node.Tag == "!!str" {
		return str()
	}
	// A plain scalar read on its own, as YAML 1.1, is what it is inside
	// the document; one that reads as more than a scalar (a stray
	// document marker) keeps yaml.v3's reading.
	if !strings.HasPrefix(node.Value, "---") && !strings.HasPrefix(node.Value, "...") {
		if converted, err := sigsyaml.YAMLToJSON([]byte(node.Value)); err == nil {
			converted = bytes.TrimSpace(converted)
			if len(converted) > 0 && converted[0] != '{' && converted[0] != '[' {
				return converted
			}
		}
	}
	var value any
	if err := node.Decode(&value); err == nil {
		if converted, err := json.Marshal(value); err == nil {
			return converted
		}
	}
	return str()
}

// kindWord names what a YAML value is, for messages.
func kindWord(node *yaml.Node) string {
	switch resolveAlias(node).Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "scalar"
}
