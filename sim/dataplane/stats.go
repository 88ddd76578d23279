package dataplane

import (
	"math"
	"time"

	"github.com/canarylab/canarylab/result"
)

// Stats counts user requests from the release on, in total and per second.
type Stats struct {
	Total, Failed map[string]int64 // by class: stable, canary
	// Per-second series from the release: index i covers [i s, i+1 s).
	Requests, Errors map[string][]int64
	P99Ms            map[string][]float64

	second  map[string]*secondStats
	run     [maxBuckets]int64 // the whole run's latency buckets, both classes
	bounds  []float64         // the mesh's latency buckets
	started bool
}

type secondStats struct {
	requests, failed int64
	buckets          [maxBuckets]int64
}

func (s *Stats) start(bounds []float64) {
	s.bounds = bounds
	s.Total = map[string]int64{"stable": 0, "canary": 0}
	s.Failed = map[string]int64{"stable": 0, "canary": 0}
	s.Requests = map[string][]int64{"stable": nil, "canary": nil}
	s.Errors = map[string][]int64{"stable": nil, "canary": nil}
	s.P99Ms = map[string][]float64{"stable": nil, "canary": nil}
	s.second = map[string]*secondStats{"stable": {}, "canary": {}}
}

func (s *Stats) add(at time.Duration, class string, requests, failed int64, buckets []int64) {
	if at < 0 {
		return
	}
	s.Total[class] += requests
	s.Failed[class] += failed
	second := s.second[class]
	second.requests += requests
	second.failed += failed
	for i, count := range buckets {
		second.buckets[i] += count
		s.run[i] += count
	}
}

// closeSecond ends the second that ends at end.
func (s *Stats) closeSecond(end time.Duration) {
	if end <= 0 {
		return
	}
	for _, class := range []string{"stable", "canary"} {
		second := s.second[class]
		s.Requests[class] = append(s.Requests[class], second.requests)
		s.Errors[class] = append(s.Errors[class], second.failed)
		p99 := quantileFromBuckets(0.99, second.buckets[:len(s.bounds)+1], s.bounds)
		s.P99Ms[class] = append(s.P99Ms[class], math.Round(p99*10)/10)
		*second = secondStats{}
	}
}

// Sum is the total over classes.
func (s *Stats) Sum(counts map[string]int64) int64 { return counts["stable"] + counts["canary"] }

// Counts are the run's request counts in the result's shape.
func (s *Stats) Counts() result.Requests {
	return result.Requests{
		Total:  s.Sum(s.Total),
		Failed: s.Sum(s.Failed),
		Stable: result.Counts{Total: s.Total["stable"], Failed: s.Failed["stable"]},
		Canary: result.Counts{Total: s.Total["canary"], Failed: s.Failed["canary"]},
		// The quantile as the mesh's histogram gives it, to 0.1 ms.
		LatencyP99Ms: math.Round(quantileFromBuckets(0.99, s.run[:len(s.bounds)+1], s.bounds)*10) / 10,
	}
}

// Series are the per-second series of the run, with the routed canary
// weight of each second (cut to the seconds counted).
func (s *Stats) Series(weights []int) *result.Series {
	if seconds := len(s.Requests["stable"]); len(weights) > seconds {
		weights = weights[:seconds]
	}
	nonNil := func(list []int64) []int64 {
		if list == nil {
			return []int64{}
		}
		return list
	}
	nonNilFloats := func(list []float64) []float64 {
		if list == nil {
			return []float64{}
		}
		return list
	}
	return &result.Series{
		StepSeconds:  1,
		CanaryWeight: append([]int{}, weights...),
		Requests:     result.VersionSeries{Stable: nonNil(s.Requests["stable"]), Canary: nonNil(s.Requests["canary"])},
		Failed:       result.VersionSeries{Stable: nonNil(s.Errors["stable"]), Canary: nonNil(s.Errors["canary"])},
		LatencyP99Ms: result.VersionFloats{Stable: nonNilFloats(s.P99Ms["stable"]), Canary: nonNilFloats(s.P99Ms["canary"])},
	}
}
