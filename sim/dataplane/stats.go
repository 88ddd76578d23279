package dataplane

import (
	"math"
	"time"
)

// Stats counts user requests from the release on, in total and per second.
type Stats struct {
	Total, Failed map[string]int64 // by class: stable, canary
	// Per-second series from the release: index i covers [i s, i+1 s).
	Requests, Errors map[string][]int64
	P99Ms            map[string][]float64

	second  map[string]*secondStats
	started bool
}

type secondStats struct {
	requests, failed int64
	buckets          [20]int64
}

func (s *Stats) start(time.Duration) {
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
		p99 := quantileFromBuckets(0.99, second.buckets[:])
		s.P99Ms[class] = append(s.P99Ms[class], math.Round(p99*10)/10)
		*second = secondStats{}
	}
}

// Sum is the total over classes.
func (s *Stats) Sum(counts map[string]int64) int64 { return counts["stable"] + counts["canary"] }
