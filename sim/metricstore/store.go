// Package metricstore is the sim's Prometheus: samples are appended to a real
// TSDB head (in memory, no WAL) and queried with the real PromQL engine, so
// analysis templates are judged by the same query semantics as in a cluster.
package metricstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// Epoch is virtual time zero (the release) as a wall-clock instant, fixed so
// that sample timestamps, and hence results, do not depend on when a run happens.
// It sits mid-day so a run never crosses the head's chunk-range boundary,
// which would cut and memory-map chunks to disk.
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

// Store is one run's Prometheus.
type Store struct {
	head     *tsdb.Head
	chunkDir string
}

// New opens an empty in-memory TSDB head.
func New() (*Store, error) {
	// The head needs a directory for chunks it memory-maps once they are
	// full; a run's few hundred samples per series never fill one, so the
	// directory stays empty and is removed on Close.
	dir, err := os.MkdirTemp("", processDirPrefix())
	if err != nil {
		return nil, fmt.Errorf("creating TSDB chunk directory: %w", err)
	}
	opts := tsdb.DefaultHeadOptions()
	opts.ChunkDirRoot = dir
	opts.ChunkRange = int64(24 * time.Hour / time.Millisecond)
	// A run has a few hundred series: the default 16384 stripes cost more
	// to allocate and clear than the whole run's queries.
	opts.StripeSize = 64
	opts.ChunkWriteBufferSize = chunks.MinWriteBufferSize
	head, err := tsdb.NewHead(nil, nil, nil, nil, opts, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("opening TSDB head: %w", err)
	}
	if err := head.Init(0); err != nil {
		head.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initialising TSDB head: %w", err)
	}
	return &Store{head: head, chunkDir: dir}, nil
}

// processDirPrefix names this process's chunk directories, so that an
// exit that skips Close can still remove them (RemoveProcessDirs).
func processDirPrefix() string { return fmt.Sprintf("canarylab-tsdb-%d-", os.Getpid()) }

// RemoveProcessDirs removes every chunk directory of this process's
// stores, for an exit that cannot wait for their Close.
func RemoveProcessDirs() error {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), processDirPrefix()+"*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, dir := range dirs {
		errs = append(errs, os.RemoveAll(dir))
	}
	return errors.Join(errs...)
}

// Close releases the head and its directory.
func (s *Store) Close() error {
	return errors.Join(s.head.Close(), os.RemoveAll(s.chunkDir))
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

// Append stores one scrape: every sample at the same virtual time.
func (s *Store) Append(at time.Duration, samples []Sample) error {
	app := s.head.Appender(context.Background())
	ts := Timestamp(at)
	for _, sample := range samples {
		var ref storage.SeriesRef
		if sample.Ref != nil {
			ref = *sample.Ref
		}
		newRef, err := app.Append(ref, sample.Labels, ts, sample.Value)
		if err != nil {
			_ = app.Rollback()
			return fmt.Errorf("appending %s: %w", sample.Labels, err)
		}
		if sample.Ref != nil {
			*sample.Ref = newRef
		}
	}
	return app.Commit()
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

// Querier makes the store a storage.Queryable over its head.
func (s *Store) Querier(mint, maxt int64) (storage.Querier, error) {
	return tsdb.NewBlockQuerier(tsdb.NewRangeHead(s.head, mint, maxt), mint, maxt)
}

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
