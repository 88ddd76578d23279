package k8sschema

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields is the JSON names of a struct type's fields, embedded structs
// without a name promoted, by encoding/json's rules (the shallowest field
// wins, a tagged one over an untagged one at the same depth, a tie drops
// both). The decoder decides what is unknown; this serves the did-you-mean
// and finding where a value went.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if cached, ok := fieldCache.Load(t); ok {
		return cached.(map[string]reflect.Type)
	}
	type candidate struct {
		typ    reflect.Type
		depth  int
		tagged bool
		count  int
	}
	found := map[string]*candidate{}
	var visit func(t reflect.Type, depth int, seen map[reflect.Type]bool)
	visit = func(t reflect.Type, depth int, seen map[reflect.Type]bool) {
		if seen[t] {
			return
		}
		seen[t] = true
		defer delete(seen, t)
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			embedded := f.Type
			if embedded.Kind() == reflect.Pointer {
				embedded = embedded.Elem()
			}
			if f.Anonymous && name == "" && embedded.Kind() == reflect.Struct {
				visit(embedded, depth+1, seen)
				continue
			}
			if !f.IsExported() {
				continue
			}
			tagged := name != ""
			if !tagged {
				name = f.Name
			}
			c, ok := found[name]
			switch {
			case !ok || depth < c.depth || (depth == c.depth && tagged && !c.tagged):
				found[name] = &candidate{typ: f.Type, depth: depth, tagged: tagged, count: 1}
			case depth == c.depth && tagged == c.tagged:
				c.count++
			}
		}
	}
	visit(t, 0, map[reflect.Type]bool{})
	fields := map[string]reflect.Type{}
	for name, c := range found {
		if c.count == 1 {
			fields[name] = c.typ
		}
	}
	fieldCache.Store(t, fields)
	return fields
}

// site is a value whose Go type is judged by other means than the strict
// JSON decoder's field matching: a type that decodes itself (IntOrString,
// Quantity, Time...).
type site struct {
	node *yaml.Node
	typ  reflect.Type
	path string
}

// typedWalk follows a document and its Go type together.
type typedWalk struct {
	// structs maps a mapping node to the struct type it decodes into.
	structs      map[*yaml.Node]reflect.Type
	unmarshalers []site
	scalars      scalars
	visited      int
}

func walkTypes(node *yaml.Node, t reflect.Type, scalars scalars) *typedWalk {
	w := &typedWalk{structs: map[*yaml.Node]reflect.Type{}, scalars: scalars}
	w.walk(node, t, "", 0)
	return w
}

func (w *typedWalk) walk(node *yaml.Node, t reflect.Type, path string, depth int) {
	w.visited++
	if depth > maxDepth || w.visited > maxNodes {
		return
	}
	node = resolveAlias(node)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if w.scalars.isNull(node) {
		return
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		w.unmarshalers = append(w.unmarshalers, site{node, t, path})
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			return
		}
		w.structs[node] = t
		fields := jsonFields(t)
		for _, p := range mappingPairs(node) {
			name := keyText(p.key)
			if ft, ok := fields[name]; ok {
				w.walk(p.value, ft, join(path, name), depth+1)
			}
		}
	case reflect.Map:
		if node.Kind != yaml.MappingNode {
			return
		}
		for _, p := range mappingPairs(node) {
			w.walk(p.value, t.Elem(), join(path, keyText(p.key)), depth+1)
		}
	case reflect.Slice, reflect.Array:
		if node.Kind != yaml.SequenceNode || t.Elem().Kind() == reflect.Uint8 {
			return
		}
		for i, item := range node.Content {
			w.walk(item, t.Elem(), indexPath(path, i), depth+1)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func (s scalars) isNull(node *yaml.Node) bool {
	return node.Kind == 0 || (node.Kind == yaml.ScalarNode && string(s.json(node)) == "null")
}
