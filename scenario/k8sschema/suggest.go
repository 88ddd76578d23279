package k8sschema

import (
	"fmt"
	"sort"
	"strings"
)

// unknownFieldMessage says a field is unknown and, when a known sibling is
// within a few edits, which one was probably meant.
func unknownFieldMessage(path string, known []string, owner string) string {
	name := path
	if cut := strings.LastIndexByte(path, '.'); cut >= 0 {
		name = path[cut+1:]
	}
	if suggestion := closest(name, known); suggestion != "" {
		return fmt.Sprintf("unknown field %q: did you mean %s?", path, suggestion)
	}
	return fmt.Sprintf("unknown field %q: %s has no field %s; remove it or check where it belongs", path, owner, name)
}

// closest is the known name nearest to name by edit distance (ignoring
// case, which the API server does not), if it is near enough to be a slip:
// at most one edit in three characters, and never more than three.
func closest(name string, known []string) string {
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	best, bestDistance := "", 0
	for _, candidate := range sorted {
		if candidate == name {
			continue
		}
		distance := editDistance(strings.ToLower(name), strings.ToLower(candidate))
		if best == "" || distance < bestDistance {
			best, bestDistance = candidate, distance
		}
	}
	limit := min(3, max(1, len(name)/3))
	if best == "" || bestDistance > limit {
		return ""
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (optimal string
// alignment: insertions, deletions, substitutions and swaps of neighbours).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	rows := make([][]int, len(ra)+1)
	for i := range rows {
		rows[i] = make([]int, len(rb)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			rows[i][j] = min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				rows[i][j] = min(rows[i][j], rows[i-2][j-2]+1)
			}
		}
	}
	return rows[len(ra)][len(rb)]
}
