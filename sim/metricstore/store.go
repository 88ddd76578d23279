// Package metricstore is the sim's Prometheus: samples are kept in an
// in-memory store that implements Prometheus' storage interface and are
// queried with the real PromQL engine, so analysis templates are judged by
// the same query semantics as in a cluster.
package metricstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// Epoch is virtual time zero (the release) as a wall-clock instant, fixed so
// that sample timestamps, and hence results, do not depend on when a run happens.
var Epoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// Bounds on one query, checked before it runs (ParseExpr) and while it
// runs (the engine's MaxSamples).
const (
	// MaxSamples is how many samples one query may hold in memory at once
	// (16 MB of points); a run's store holds a few hundred series.
	MaxSamples = 1_000_000
	// MaxPointsPerSeries bounds a subquery's range/step, as the Prometheus
	// HTTP API bounds a range query's (end-start)/step (web/api/v1 "exceeded
	// maximum resolution of 11,000 points per timeseries").
	MaxPointsPerSeries = 11_000
	// MaxQueryBytes bounds a query's text.
	MaxQueryBytes = 64 << 10
)

// engine is shared by every store of the process: building one is costly and
// it holds no per-query state (docs/measurements.md#promql-engine-cost).
var (
	sharedParser = newCachingParser()
	engineOnce   sync.Once
	engine       *promql.Engine
)

func sharedEngine() *promql.Engine {
	engineOnce.Do(func() {
		engine = promql.NewEngine(promql.EngineOpts{
			MaxSamples: MaxSamples,
			// A subquery without a step ("x[5m:]") takes the global
			// evaluation interval; unset, the engine would call a nil func.
			NoStepSubqueryIntervalFn: func(int64) int64 { return defaultSubqueryStep.Milliseconds() },
			// No wall-clock bound: a query's cost is bounded by MaxSamples
			// and MaxPointsPerSeries, and it stops with the run's context,
			// so its result never depends on the host's speed.
			Timeout:       time.Duration(math.MaxInt64),
			LookbackDelta: 5 * time.Minute,
			// Fixed so results never depend on the host's settings.
			EnableAtModifier:         true,
			Parser:                   sharedParser,
			EnableNegativeOffset:     true,
			EnableDelayedNameRemoval: false,
		})
	})
	return engine
}

// Store is one run's Prometheus. It keeps samples in memory and hands them
// to the engine through Prometheus' storage interface (Querier) rather than
// a TSDB head: the tsdb package imports Prometheus' config, and with it the
// AWS, Azure and Google cloud SDKs, into every user of this library, while a
// run's few hundred series with a few hundred samples each need none of the
// head's chunk encoding, memory-mapping or garbage collection.
//
// It is safe for concurrent use, as the TSDB head was: queries may run
// while another goroutine appends.
type Store struct {
	mu     sync.RWMutex
	series []*memSeries
	// byHash finds a series by its labels' hash; hashes that collide share
	// an entry and are told apart by their labels.
	byHash map[uint64][]int
	// undo records, per sample of the Append in progress, the series and its
	// length before the sample, so a failed scrape leaves none of its samples.
	undo []undoEntry
}

// memSeries is one series: its labels and its samples in time order.
type memSeries struct {
	labels labels.Labels
	points points
}

type undoEntry struct{ series, length int }

// New makes an empty store.
func New() (*Store, error) {
	return &Store{byHash: map[uint64][]int{}}, nil
}

// Close drops the samples.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.series, s.byHash, s.undo = nil, map[uint64][]int{}, nil
	return nil
}

// Timestamp converts virtual time to a Prometheus timestamp (ms).
func Timestamp(at time.Duration) int64 { return Epoch.Add(at).UnixMilli() }

// Sample is one value of one series, as a scrape produces it. Ref, if
// not nil, caches the series reference between scrapes, as Prometheus' own
// scrape cache does, so appends skip the label lookup.
type Sample struct {
	Labels labels.Labels
	Value  float64
	Ref    *storage.SeriesRef
}

// Append stores one scrape: every sample at the same virtual time. It
// stores all of them or, if one is refused, none. A sample older than its
// series' last one is refused (storage.ErrOutOfOrderSample), and so is one
// at the same time with another value (storage.ErrDuplicateSampleForTimestamp);
// one repeating the last sample exactly is ignored, as Prometheus ignores
// the duplicates federation produces.
func (s *Store) Append(at time.Duration, samples []Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := Timestamp(at)
	s.undo = s.undo[:0]
	for _, sample := range samples {
		index, err := s.lookup(sample)
		if err == nil {
			err = s.series[index].append(ts, sample.Value)
		}
		if err != nil {
			s.rollback()
			return fmt.Errorf("appending %s: %w", sample.Labels, err)
		}
		if sample.Ref != nil {
			*sample.Ref = storage.SeriesRef(index + 1)
		}
	}
	return nil
}

// lookup returns the index of the sample's series, creating it if new. A
// ref is only a hint: one from another store, or stale, falls back to the
// labels. Series created by a scrape that fails are kept, empty, as the
// TSDB keeps them, so series are numbered in the same order.
func (s *Store) lookup(sample Sample) (int, error) {
	if sample.Ref != nil {
		if i := int(*sample.Ref) - 1; i >= 0 && i < len(s.series) && labels.Equal(s.series[i].labels, sample.Labels) {
			s.undo = append(s.undo, undoEntry{i, len(s.series[i].points)})
			return i, nil
		}
	}
	lset := sample.Labels.WithoutEmpty()
	if lset.IsEmpty() {
		return 0, errors.New("empty label set")
	}
	if name, dup := lset.HasDuplicateLabelNames(); dup {
		return 0, fmt.Errorf("label name %q is not unique", name)
	}
	hash := lset.Hash()
	index := -1
	for _, i := range s.byHash[hash] {
		if labels.Equal(s.series[i].labels, lset) {
			index = i
			break
		}
	}
	if index < 0 {
		index = len(s.series)
		s.series = append(s.series, &memSeries{labels: lset})
		s.byHash[hash] = append(s.byHash[hash], index)
	}
	s.undo = append(s.undo, undoEntry{index, len(s.series[index].points)})
	return index, nil
}

// rollback undoes the Append in progress. Undone in reverse, a series
// appended to twice ends at its length before the first.
func (s *Store) rollback() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		u := s.undo[i]
		s.series[u.series].points = s.series[u.series].points[:u.length]
	}
	s.undo = s.undo[:0]
}

func (m *memSeries) append(t int64, v float64) error {
	if n := len(m.points); n > 0 {
		last := m.points[n-1]
		switch {
		case t < last.t:
			return fmt.Errorf("sample at %s is before the series' last at %s: %w", virtual(t), virtual(last.t), storage.ErrOutOfOrderSample)
		case t == last.t && math.Float64bits(v) == math.Float64bits(last.f):
			return nil
		case t == last.t:
			return storage.NewDuplicateFloatErr(t, last.f, v)
		}
	}
	m.points = append(m.points, point{t: t, f: v})
	return nil
}

// virtual is the virtual time of a timestamp, for messages.
func virtual(t int64) time.Duration { return time.Duration(t-Epoch.UnixMilli()) * time.Millisecond }

// between returns the samples in [mint, maxt]. An Append only adds after
// the samples stored before it and a failed one only takes back its own, so
// the slice a query holds stays valid whatever is appended later.
func (m *memSeries) between(mint, maxt int64) points {
	lo := sort.Search(len(m.points), func(i int) bool { return m.points[i].t >= mint })
	hi := sort.Search(len(m.points), func(i int) bool { return m.points[i].t > maxt })
	if lo >= hi {
		return nil
	}
	return m.points[lo:hi:hi]
}

// Query runs an instant PromQL query at virtual time at.
func (s *Store) Query(ctx context.Context, query string, at time.Duration) (model.Value, error) {
	q, err := sharedEngine().NewInstantQuery(ctx, s, nil, query, Epoch.Add(at))
	return execute(ctx, q, err)
}

// QueryRange runs a range PromQL query from start to end (virtual times)
// at step resolution.
func (s *Store) QueryRange(ctx context.Context, query string, start, end, step time.Duration) (model.Value, error) {
	q, err := sharedEngine().NewRangeQuery(ctx, s, nil, query, Epoch.Add(start), Epoch.Add(end), step)
	return execute(ctx, q, err)
}

// execute runs a query the engine has made (or says why it could not).
func execute(ctx context.Context, q promql.Query, err error) (model.Value, error) {
	if err != nil {
		return nil, fmt.Errorf("bad query: %w", err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("executing query: %w", ctx.Err())
		}
		return nil, fmt.Errorf("executing query: %w", res.Err)
	}
	return toModel(res.Value), nil
}

// Querier makes the store a storage.Queryable: the engine asks it for the
// series a selector names, over the time range the query needs.
func (s *Store) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{store: s, mint: mint, maxt: maxt}, nil
}

type querier struct {
	store      *Store
	mint, maxt int64
}

// Select returns the series the matchers select that have samples in the
// hints' time range (the querier's without hints). Unsorted, they come in
// the order the series were created, which is the order the TSDB head gave
// and the order an instant query's vector keeps.
func (q *querier) Select(_ context.Context, sortSeries bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
	mint, maxt, limit := q.mint, q.maxt, 0
	if hints != nil {
		mint, maxt, limit = hints.Start, hints.End, hints.Limit
	}
	var selected []storage.Series
	q.store.mu.RLock()
	for _, m := range q.store.series {
		if !matches(m.labels, matchers) {
			continue
		}
		if pts := m.between(mint, maxt); len(pts) > 0 {
			selected = append(selected, listSeries(m.labels, pts))
		}
	}
	q.store.mu.RUnlock()
	if len(selected) == 0 {
		return storage.EmptySeriesSet()
	}
	if sortSeries {
		slices.SortFunc(selected, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	}
	if limit > 0 && len(selected) > limit {
		selected = selected[:limit]
	}
	return &seriesSet{series: selected, next: -1}
}

// LabelValues returns the sorted values of a label among the series the
// matchers select that have samples in the querier's range.
func (q *querier) LabelValues(_ context.Context, name string, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.labelStrings(hints, matchers, func(lset labels.Labels, add func(string)) {
		if value := lset.Get(name); value != "" {
			add(value)
		}
	}), nil, nil
}

// LabelNames returns the sorted label names of the series the matchers
// select that have samples in the querier's range.
func (q *querier) LabelNames(_ context.Context, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.labelStrings(hints, matchers, func(lset labels.Labels, add func(string)) {
		lset.Range(func(l labels.Label) { add(l.Name) })
	}), nil, nil
}

func (q *querier) labelStrings(hints *storage.LabelHints, matchers []*labels.Matcher, collect func(labels.Labels, func(string))) []string {
	seen := map[string]struct{}{}
	q.store.mu.RLock()
	for _, m := range q.store.series {
		if matches(m.labels, matchers) && len(m.between(q.mint, q.maxt)) > 0 {
			collect(m.labels, func(s string) { seen[s] = struct{}{} })
		}
	}
	q.store.mu.RUnlock()
	out := slices.Sorted(maps.Keys(seen))
	if hints != nil && hints.Limit > 0 && len(out) > hints.Limit {
		out = out[:hints.Limit]
	}
	return out
}

// Close releases nothing: a querier holds no resources.
func (*querier) Close() error { return nil }

func matches(lset labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

// listSeries is a series over a slice of its samples. The engine hands back
// the iterator of the previous series; reusing it saves an allocation per
// series per selector.
func listSeries(lset labels.Labels, pts points) storage.Series {
	return &storage.SeriesEntry{Lset: lset, SampleIteratorFn: func(it chunkenc.Iterator) chunkenc.Iterator {
		if reusable, ok := it.(interface{ Reset(storage.Samples) }); ok {
			reusable.Reset(pts)
			return it
		}
		return storage.NewListSeriesIterator(pts)
	}}
}

// seriesSet walks a slice of series; the storage package has no such set.
type seriesSet struct {
	series []storage.Series
	next   int
}

func (s *seriesSet) Next() bool                      { s.next++; return s.next < len(s.series) }
func (s *seriesSet) At() storage.Series              { return s.series[s.next] }
func (*seriesSet) Err() error                        { return nil }
func (*seriesSet) Warnings() annotations.Annotations { return nil }

// point is one float sample. Its methods have pointer receivers so that
// points hands out &p[i] as a chunks.Sample without allocating.
type point struct {
	t int64
	f float64
}

func (p *point) T() int64                    { return p.t }
func (*point) ST() int64                     { return 0 }
func (p *point) F() float64                  { return p.f }
func (*point) H() *histogram.Histogram       { return nil }
func (*point) FH() *histogram.FloatHistogram { return nil }
func (*point) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (p *point) Copy() chunks.Sample         { c := *p; return &c }

// points are a series' samples as storage.Samples, for the storage
// package's list iterator.
type points []point

func (p points) Get(i int) chunks.Sample { return &p[i] }
func (p points) Len() int                { return len(p) }

// ParseExpr checks a query's syntax and bounds, for validation before a run.
func ParseExpr(query string) error {
	if len(query) > MaxQueryBytes {
		return fmt.Errorf("the query is %d bytes long: the limit is %d", len(query), MaxQueryBytes)
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(query)
	if err != nil {
		return err
	}
	return checkBounds(expr)
}

// checkBounds refuses a subquery whose range/step exceeds
// MaxPointsPerSeries ("max_over_time(x[30d:1ms])" would evaluate its inner
// query 2.6 billion times).
func checkBounds(expr parser.Expr) error {
	var err error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		sub, ok := node.(*parser.SubqueryExpr)
		if !ok || err != nil {
			return nil
		}
		step := sub.Step
		if step <= 0 {
			step = defaultSubqueryStep
		}
		if points := sub.Range / step; points > MaxPointsPerSeries {
			err = fmt.Errorf("subquery %s takes %d points per series (range %s / step %s): the limit is %d; use a coarser step",
				sub.String(), points, model.Duration(sub.Range), model.Duration(step), MaxPointsPerSeries)
		}
		return nil
	})
	return err
}

// defaultSubqueryStep is the step of a subquery without one: the engine's
// default evaluation interval (promql.EngineOpts NoStepSubqueryIntervalFn
// unset = 1m, as in Prometheus' global evaluation_interval).
const defaultSubqueryStep = time.Minute

// toModel converts the engine's value to the client-side model the
// Prometheus HTTP API returns, which is what Argo Rollouts' provider reads.
func toModel(value parser.Value) model.Value {
	switch v := value.(type) {
	case promql.Scalar:
		return &model.Scalar{Value: model.SampleValue(v.V), Timestamp: model.Time(v.T)}
	case promql.Vector:
		out := make(model.Vector, 0, len(v))
		for _, sample := range v {
			out = append(out, &model.Sample{Metric: toMetric(sample.Metric), Value: model.SampleValue(sample.F), Timestamp: model.Time(sample.T)})
		}
		return out
	case promql.Matrix:
		out := make(model.Matrix, 0, len(v))
		for _, series := range v {
			stream := &model.SampleStream{Metric: toMetric(series.Metric)}
			for _, point := range series.Floats {
				stream.Values = append(stream.Values, model.SamplePair{Timestamp: model.Time(point.T), Value: model.SampleValue(point.F)})
			}
			out = append(out, stream)
		}
		return out
	case promql.String:
		return &model.String{Value: v.V, Timestamp: model.Time(v.T)}
	}
	return nil
}

func toMetric(ls labels.Labels) model.Metric {
	metric := make(model.Metric, ls.Len())
	ls.Range(func(l labels.Label) { metric[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return metric
}

// LabelValues is every value each label of each metric has had in the
// store: metric name → label name → values, sorted.
func (s *Store) LabelValues() map[string]map[string][]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := map[string]map[string]map[string]bool{}
	for _, series := range s.series {
		name := series.labels.Get(labels.MetricName)
		if seen[name] == nil {
			seen[name] = map[string]map[string]bool{}
		}
		series.labels.Range(func(l labels.Label) {
			if seen[name][l.Name] == nil {
				seen[name][l.Name] = map[string]bool{}
			}
			seen[name][l.Name][l.Value] = true
		})
	}
	values := map[string]map[string][]string{}
	for name, byLabel := range seen {
		values[name] = map[string][]string{}
		for label, set := range byLabel {
			values[name][label] = slices.Sorted(maps.Keys(set))
		}
	}
	return values
}
