package metricstore

import (
	"fmt"
	"slices"
	"sync"

	"github.com/prometheus/prometheus/promql/parser"
)

// cachingParser hands the engine a fresh copy of an expression it parsed
// before. Analysis templates repeat the same few queries every interval,
// and parsing dominated their cost: the parser compiles every =~ regex
// anew (labels.NewFastRegexMatcher has no cache). The engine mutates the
// tree it gets (PreprocessExpr wraps nodes, the evaluator fills selectors'
// series), so the cache keeps a pristine copy and never hands it out.
type cachingParser struct {
	parser.Parser
	mu    sync.Mutex
	cache map[string]parser.Expr
}

const parseCacheLimit = 1024

func newCachingParser() *cachingParser {
	return &cachingParser{Parser: parser.NewParser(parser.Options{}), cache: map[string]parser.Expr{}}
}

// ParseExpr returns a private copy of the cached tree, or parses.
func (p *cachingParser) ParseExpr(query string) (parser.Expr, error) {
	p.mu.Lock()
	pristine, ok := p.cache[query]
	p.mu.Unlock()
	if ok {
		if expr := cloneExpr(pristine); expr != nil {
			return expr, nil
		}
	}
	if len(query) > MaxQueryBytes {
		return nil, fmt.Errorf("the query is %d bytes long: the limit is %d", len(query), MaxQueryBytes)
	}
	expr, err := p.Parser.ParseExpr(query)
	if err != nil {
		return expr, err
	}
	if err := checkBounds(expr); err != nil {
		return nil, err
	}
	if pristine := cloneExpr(expr); pristine != nil {
		p.mu.Lock()
		if len(p.cache) >= parseCacheLimit {
			p.cache = map[string]parser.Expr{}
		}
		p.cache[query] = pristine
		p.mu.Unlock()
	}
	return expr, nil
}

// cloneExpr deep-copies the mutable parts of a tree; label matchers are
// immutable and shared. It returns nil for a node it does not know, and
// the caller parses again.
func cloneExpr(expr parser.Expr) parser.Expr {
	switch n := expr.(type) {
	case *parser.NumberLiteral:
		c := *n
		return &c
	case *parser.StringLiteral:
		c := *n
		return &c
	case *parser.ParenExpr:
		return cloneWith(n, &n.Expr, func(c *parser.ParenExpr) *parser.Expr { return &c.Expr })
	case *parser.UnaryExpr:
		return cloneWith(n, &n.Expr, func(c *parser.UnaryExpr) *parser.Expr { return &c.Expr })
	case *parser.StepInvariantExpr:
		return cloneWith(n, &n.Expr, func(c *parser.StepInvariantExpr) *parser.Expr { return &c.Expr })
	case *parser.AggregateExpr:
		c := *n
		c.Grouping = slices.Clone(n.Grouping)
		if c.Expr = cloneExpr(n.Expr); c.Expr == nil {
			return nil
		}
		if n.Param != nil {
			if c.Param = cloneExpr(n.Param); c.Param == nil {
				return nil
			}
		}
		return &c
	case *parser.BinaryExpr:
		c := *n
		if c.LHS, c.RHS = cloneExpr(n.LHS), cloneExpr(n.RHS); c.LHS == nil || c.RHS == nil {
			return nil
		}
		if n.VectorMatching != nil {
			matching := *n.VectorMatching
			matching.MatchingLabels = slices.Clone(n.VectorMatching.MatchingLabels)
			matching.Include = slices.Clone(n.VectorMatching.Include)
			c.VectorMatching = &matching
		}
		return &c
	case *parser.Call:
		c := *n
		c.Args = make(parser.Expressions, len(n.Args))
		for i, arg := range n.Args {
			if c.Args[i] = cloneExpr(arg); c.Args[i] == nil {
				return nil
			}
		}
		return &c
	case *parser.MatrixSelector:
		if n.RangeExpr != nil {
			return nil
		}
		c := *n
		if c.VectorSelector = cloneExpr(n.VectorSelector); c.VectorSelector == nil {
			return nil
		}
		return &c
	case *parser.VectorSelector:
		if n.OriginalOffsetExpr != nil {
			return nil
		}
		c := *n
		c.LabelMatchers = slices.Clone(n.LabelMatchers)
		c.UnexpandedSeriesSet, c.Series = nil, nil
		if n.Timestamp != nil {
			timestamp := *n.Timestamp
			c.Timestamp = &timestamp
		}
		return &c
	}
	// Subqueries and duration expressions: parse again.
	return nil
}

// cloneWith copies a node with one child expression.
func cloneWith[N any](n *N, child *parser.Expr, field func(*N) *parser.Expr) parser.Expr {
	inner := cloneExpr(*child)
	if inner == nil {
		return nil
	}
	c := *n
	*field(&c) = inner
	return any(&c).(parser.Expr)
}

// cachedCount is 1 when the query is cached, for tests.
func (p *cachingParser) cachedCount(query string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.cache[query]; ok {
		return 1
	}
	return 0
}
