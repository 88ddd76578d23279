package k8sschema

import (
	"slices"
	"sync"
	"weak"

	"gopkg.in/yaml.v3"

	"github.com/canarylab/canarylab/scenario"
)

// verdicts remembers each document's problems for the process: the sim
// decodes a scenario's manifests on every run (a seed sweep, the catalog),
// and judging a custom resource by its CRD costs about a millisecond. The
// key is the parsed document itself, weakly held (a document that is gone
// cannot come back, and its entry is never matched again), with the fields
// a problem is reported with; documents are not changed after parsing.
var verdicts = struct {
	sync.Mutex
	m map[verdictKey][]scenario.Problem
}{m: map[verdictKey][]scenario.Problem{}}

// maxVerdicts bounds the memory of a long process (a fuzzer feeds new
// documents for ever): past it, the memory starts afresh.
const maxVerdicts = 4096

type verdictKey struct {
	node             weak.Pointer[yaml.Node]
	file             string
	line             int
	apiVersion, kind string
	name, namespace  string
}

func keyOf(document scenario.Document) verdictKey {
	return verdictKey{weak.Make(document.Node), document.File, document.Line,
		document.APIVersion, document.Kind, document.Name, document.Namespace}
}

// recall is the problems found for this document before, if it was judged.
func recall(document scenario.Document) ([]scenario.Problem, bool) {
	verdicts.Lock()
	defer verdicts.Unlock()
	problems, ok := verdicts.m[keyOf(document)]
	return slices.Clone(problems), ok
}

// remember stores a document's problems.
func remember(document scenario.Document, problems []scenario.Problem) {
	verdicts.Lock()
	defer verdicts.Unlock()
	if len(verdicts.m) >= maxVerdicts {
		clear(verdicts.m)
	}
	verdicts.m[keyOf(document)] = slices.Clone(problems)
}
