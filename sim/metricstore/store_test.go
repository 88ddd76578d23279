package metricstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

func TestRateOverScrapedCounters(t *testing.T) {
	t.Parallel()
	store, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ok := labels.FromStrings("__name__", "istio_requests_total", "response_code", "200")
	failed := labels.FromStrings("__name__", "istio_requests_total", "response_code", "500")
	// 10 good and 2 bad requests per second, scraped every 15s for 5 minutes.
	for at := time.Duration(0); at <= 5*time.Minute; at += 15 * time.Second {
		seconds := at.Seconds()
		if err := store.Append(at, []Sample{{Labels: ok, Value: 10 * seconds}, {Labels: failed, Value: 2 * seconds}}); err != nil {
			t.Fatal(err)
		}
	}
	value, err := store.Query(context.Background(),
		`sum(rate(istio_requests_total{response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total[1m]))`, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	vector, isVector := value.(model.Vector)
	if !isVector || len(vector) != 1 {
		t.Fatalf("got %v, want a one-sample vector", value)
	}
	if got := float64(vector[0].Value); math.Abs(got-10.0/12.0) > 1e-9 {
		t.Fatalf("success rate %v, want %v", got, 10.0/12.0)
	}

	empty, err := store.Query(context.Background(), `sum(rate(istio_requests_total{response_code="404"}[1m]))`, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if vector := empty.(model.Vector); len(vector) != 0 {
		t.Fatalf("query for a missing series returned %v, want an empty vector", vector)
	}
	if _, err := store.Query(context.Background(), `sum(rate(`, time.Minute); err == nil {
		t.Fatal("a malformed query did not fail")
	}
}

func TestAppendRefusesOutOfOrderAndConflictingSamples(t *testing.T) {
	t.Parallel()
	store, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := labels.FromStrings("__name__", "x", "pod", "a")
	b := labels.FromStrings("__name__", "x", "pod", "b")
	var ref storage.SeriesRef
	if err := store.Append(time.Minute, []Sample{{Labels: a, Value: 1, Ref: &ref}, {Labels: b, Value: 10}}); err != nil {
		t.Fatal(err)
	}
	if ref == 0 {
		t.Fatal("Append did not set the series reference")
	}

	// An exact repeat of the last sample is ignored, not stored twice.
	if err := store.Append(time.Minute, []Sample{{Labels: a, Value: 1, Ref: &ref}}); err != nil {
		t.Fatalf("repeating the last sample: %v, want it ignored", err)
	}
	// The same time with another value, or an earlier time, is refused,
	// and the scrape's other samples are not stored either.
	err = store.Append(time.Minute, []Sample{{Labels: b, Value: 10}, {Labels: a, Value: 2, Ref: &ref}})
	if !errors.Is(err, storage.ErrDuplicateSampleForTimestamp) || !strings.Contains(err.Error(), `pod="a"`) {
		t.Fatalf("a second value at the same time: err = %v, want a duplicate-timestamp error naming the series", err)
	}
	err = store.Append(30*time.Second, []Sample{{Labels: a, Value: 0}})
	if !errors.Is(err, storage.ErrOutOfOrderSample) || !strings.Contains(err.Error(), "30s") {
		t.Fatalf("an earlier sample: err = %v, want an out-of-order error naming its time", err)
	}
	err = store.Append(2*time.Minute, []Sample{{Labels: a, Value: 3}, {Labels: b, Value: 20}, {Labels: a, Value: 4}})
	if !errors.Is(err, storage.ErrDuplicateSampleForTimestamp) {
		t.Fatalf("one series twice in a scrape with two values: err = %v, want a duplicate-timestamp error", err)
	}

	// A reference from another store is only a hint: the labels decide.
	other, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	foreign := storage.SeriesRef(2) // b's place in store, a's in none
	if err := other.Append(time.Minute, []Sample{{Labels: a, Value: 7, Ref: &foreign}}); err != nil {
		t.Fatal(err)
	}
	if foreign != 1 {
		t.Fatalf("reference after a mismatched hint = %d, want 1 (the series' own)", foreign)
	}

	value, err := store.QueryRange(context.Background(), `x`, 0, 3*time.Minute, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for _, stream := range value.(model.Matrix) {
		for _, pair := range stream.Values {
			got[string(stream.Metric["pod"])] = append(got[string(stream.Metric["pod"])], float64(pair.Value))
		}
	}
	// One sample each at 1m, seen at every step up to 5m of lookback later.
	for pod, want := range map[string]float64{"a": 1, "b": 10} {
		values := got[pod]
		if len(values) != 9 { // 1m, 1m15s, ..., 3m
			t.Errorf("pod %s: %d points, want 9 (one sample at 1m, nothing after it)", pod, len(values))
		}
		for _, v := range values {
			if v != want {
				t.Errorf("pod %s: value %v, want only %v", pod, v, want)
			}
		}
	}
}

func TestSelectHonoursMatchersTimeRangeAndOrder(t *testing.T) {
	t.Parallel()
	store, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// Created in an order that is not the labels' order.
	c := labels.FromStrings("__name__", "x", "pod", "c")
	a := labels.FromStrings("__name__", "x", "pod", "a")
	b := labels.FromStrings("__name__", "x", "pod", "b")
	y := labels.FromStrings("__name__", "y", "pod", "a")
	for at := time.Duration(0); at <= 3*time.Minute; at += time.Minute {
		scrape := []Sample{{Labels: c, Value: float64(at / time.Minute)}, {Labels: a, Value: 1}, {Labels: y, Value: 2}}
		if at >= 2*time.Minute { // b appears late
			scrape = append(scrape, Sample{Labels: b, Value: 3})
		}
		if err := store.Append(at, scrape); err != nil {
			t.Fatal(err)
		}
	}
	querier, err := store.Querier(Timestamp(0), Timestamp(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer querier.Close()
	isX := labels.MustNewMatcher(labels.MatchEqual, "__name__", "x")
	type seen struct {
		Pod   string
		Times []time.Duration
	}
	run := func(sorted bool, hints *storage.SelectHints, matchers ...*labels.Matcher) []seen {
		t.Helper()
		set := querier.Select(context.Background(), sorted, hints, matchers...)
		var out []seen
		var it chunkenc.Iterator
		for set.Next() {
			series := set.At()
			s := seen{Pod: series.Labels().Get("pod")}
			it = series.Iterator(it)
			for it.Next() == chunkenc.ValFloat {
				ts, _ := it.At()
				s.Times = append(s.Times, virtual(ts))
			}
			out = append(out, s)
		}
		if err := set.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	pods := func(got []seen) string {
		var names []string
		for _, s := range got {
			names = append(names, s.Pod)
		}
		return strings.Join(names, ",")
	}

	if got := pods(run(true, nil, isX)); got != "a,b,c" {
		t.Errorf("sorted: %s, want a,b,c", got)
	}
	if got := pods(run(false, nil, isX)); got != "c,a,b" {
		t.Errorf("unsorted: %s, want c,a,b (the order the series were created)", got)
	}
	if got := pods(run(true, nil, isX, labels.MustNewMatcher(labels.MatchRegexp, "pod", "a|c"))); got != "a,c" {
		t.Errorf("regex matcher: %s, want a,c", got)
	}
	if got := pods(run(true, nil, labels.MustNewMatcher(labels.MatchNotEqual, "__name__", "x"))); got != "a" {
		t.Errorf("!= matcher: %s, want a (y's only series)", got)
	}
	if got := pods(run(true, nil, isX, labels.MustNewMatcher(labels.MatchEqual, "missing", ""))); got != "a,b,c" {
		t.Errorf(`missing="" matcher: %s, want every x (an absent label is empty)`, got)
	}
	// The hints' range wins over the querier's; b has no sample before 2m.
	got := run(true, &storage.SelectHints{Start: Timestamp(30 * time.Second), End: Timestamp(90 * time.Second)}, isX)
	if pods(got) != "a,c" || len(got[0].Times) != 1 || got[0].Times[0] != time.Minute {
		t.Errorf("hints 30s..90s: %v, want a and c with the 1m sample only", got)
	}
	got = run(false, &storage.SelectHints{Start: Timestamp(time.Minute), End: Timestamp(2 * time.Minute)}, isX)
	if fmt.Sprint(got) != "[{c [1m0s 2m0s]} {a [1m0s 2m0s]} {b [2m0s]}]" {
		t.Errorf("hints 1m..2m (bounds inclusive): %v", got)
	}
	if got := pods(run(true, &storage.SelectHints{Start: Timestamp(0), End: Timestamp(3 * time.Minute), Limit: 2}, isX)); got != "a,b" {
		t.Errorf("limit 2: %s, want a,b", got)
	}
	if got := run(true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "z")); len(got) != 0 {
		t.Errorf("no such series: %v", got)
	}

	names, _, err := querier.LabelNames(context.Background(), nil)
	if err != nil || strings.Join(names, ",") != "__name__,pod" {
		t.Errorf("LabelNames = %v, %v; want __name__,pod", names, err)
	}
	values, _, err := querier.LabelValues(context.Background(), "pod", nil, isX)
	if err != nil || strings.Join(values, ",") != "a,b,c" {
		t.Errorf("LabelValues(pod, x) = %v, %v; want a,b,c", values, err)
	}
}
