package k8sschema

import (
	"crypto/sha256"
	"slices"
	"sync"

	"github.com/canarylab/canarylab/scenario"
)

// verdicts remembers each document's problems for the process: the sim
// decodes a scenario's manifests on every run (a seed sweep, the catalog,
// whose scenarios share manifest files), and judging a custom resource by
// its CRD costs about a millisecond. The key is the document's text, by
// its SHA-256, with where it starts and the fields a problem is reported
// with: the same text at the same place has the same problems.
var verdicts = struct {
	sync.Mutex
	m map[verdictKey][]scenario.Problem
}{m: map[verdictKey][]scenario.Problem{}}

// maxVerdicts bounds the memory of a long process (a fuzzer feeds new
// documents for ever): past it, the memory starts afresh.
const maxVerdicts = 4096

type verdictKey struct {
	text             [sha256.Size]byte
	file             string
	line             int
	apiVersion, kind string
	name, namespace  string
}

func keyOf(document scenario.Document) verdictKey {
	return verdictKey{sha256.Sum256(document.Raw), document.File, document.Line,
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
