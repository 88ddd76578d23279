package dataplane

import (
	"math"
	"math/rand/v2"
	"time"
)

// binomial draws from Binomial(n, p) in time independent of n: exact trials
// for small n, Poisson for rare events, the normal approximation otherwise.
// The sim's cost must not grow with the request rate.
func binomial(rng *rand.Rand, n int64, p float64) int64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - binomial(rng, n, 1-p)
	case n <= 24:
		var k int64
		for range n {
			if rng.Float64() < p {
				k++
			}
		}
		return k
	}
	mean := float64(n) * p
	if mean < 16 {
		// Poisson by inversion: at most a few dozen steps for mean < 16.
		limit, product := math.Exp(-mean), rng.Float64()
		var k int64
		for product > limit && k < n {
			k++
			product *= rng.Float64()
		}
		return k
	}
	draw := math.Round(mean + math.Sqrt(mean*(1-p))*rng.NormFloat64())
	return int64(min(max(draw, 0), float64(n)))
}

// latencyModel is a log-normal response time with the profile's median and
// 99th percentile, plus a fixed added delay (latency injection).
type latencyModel struct {
	mu, sigma float64 // of ln(milliseconds)
	addedMs   float64
}

// z99 is the standard normal's 99th percentile.
const z99 = 2.3263478740408408

func newLatencyModel(p50, p99, added time.Duration) latencyModel {
	median := max(float64(p50)/float64(time.Millisecond), 0.01)
	tail := max(float64(p99)/float64(time.Millisecond), median)
	return latencyModel{mu: math.Log(median), sigma: math.Log(tail/median) / z99, addedMs: float64(added) / float64(time.Millisecond)}
}

// cdf is P(latency <= ms).
func (m latencyModel) cdf(ms float64) float64 {
	x := ms - m.addedMs
	if x <= 0 {
		return 0
	}
	if m.sigma == 0 {
		if math.Log(x) >= m.mu {
			return 1
		}
		return 0
	}
	return 0.5 * math.Erfc(-(math.Log(x)-m.mu)/(m.sigma*math.Sqrt2))
}

// meanMs is the expected latency.
func (m latencyModel) meanMs() float64 {
	return math.Exp(m.mu+m.sigma*m.sigma/2) + m.addedMs
}

// bucketProbabilities is the probability of each bucket over bounds and
// the +Inf bucket (non-cumulative).
func (m latencyModel) bucketProbabilities(bounds []float64) []float64 {
	probabilities := make([]float64, len(bounds)+1)
	previous := 0.0
	for i, bound := range bounds {
		cumulative := m.cdf(bound)
		probabilities[i] = max(cumulative-previous, 0)
		previous = cumulative
	}
	probabilities[len(bounds)] = max(1-previous, 0)
	return probabilities
}

// multinomial splits n over probabilities (summing to 1) into counts.
func multinomial(rng *rand.Rand, n int64, probabilities []float64, counts []int64) {
	remaining, mass := n, 1.0
	for i, p := range probabilities {
		if remaining == 0 {
			counts[i] = 0
			continue
		}
		if i == len(probabilities)-1 || mass <= p {
			counts[i] = remaining
			remaining = 0
			continue
		}
		k := binomial(rng, remaining, p/mass)
		counts[i] = k
		remaining -= k
		mass -= p
	}
}

// quantileFromBuckets estimates a quantile from non-cumulative bucket counts
// over bounds and +Inf the way PromQL's histogram_quantile does: linear
// interpolation inside the bucket, the lower bound of the first bucket at 0.
func quantileFromBuckets(q float64, counts []int64, bounds []float64) float64 {
	var total int64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cumulative int64
	for i, c := range counts {
		if float64(cumulative+c) >= rank && c > 0 {
			if i == len(bounds) {
				return bounds[len(bounds)-1]
			}
			lower := 0.0
			if i > 0 {
				lower = bounds[i-1]
			}
			upper := bounds[i]
			return lower + (upper-lower)*(rank-float64(cumulative))/float64(c)
		}
		cumulative += c
	}
	return bounds[len(bounds)-1]
}
