package metricstore

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// A cached parse gives the same answers as a fresh one, query after query,
// although the engine mutates the trees it is given.
func TestCachedParsesAnswerAsFreshOnes(t *testing.T) {
	t.Parallel()
	store, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for at := time.Duration(0); at <= 5*time.Minute; at += 15 * time.Second {
		seconds := at.Seconds()
		samples := []Sample{
			{Labels: labels.FromStrings("__name__", "istio_requests_total", "destination_service", "demo-canary.default.svc.cluster.local", "response_code", "200"), Value: 9 * seconds},
			{Labels: labels.FromStrings("__name__", "istio_requests_total", "destination_service", "demo-canary.default.svc.cluster.local", "response_code", "500"), Value: seconds},
			{Labels: labels.FromStrings("__name__", "istio_request_duration_milliseconds_bucket", "le", "100", "destination_service", "demo-canary.default.svc.cluster.local"), Value: 8 * seconds},
			{Labels: labels.FromStrings("__name__", "istio_request_duration_milliseconds_bucket", "le", "+Inf", "destination_service", "demo-canary.default.svc.cluster.local"), Value: 10 * seconds},
		}
		if err := store.Append(at, samples); err != nil {
			t.Fatal(err)
		}
	}
	queries := []string{
		`sum(irate(istio_requests_total{destination_service=~"demo-canary.*",response_code!~"5.*"}[1m])) / sum(irate(istio_requests_total{destination_service=~"demo-canary.*"}[1m]))`,
		`histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{destination_service=~"demo-canary.*"}[1m])) by (le))`,
		`scalar(sum(rate(istio_requests_total[2m])))`,
		`sum(rate(istio_requests_total[5m:30s]))`,
		`sum(istio_requests_total offset 1m @ end())`,
	}
	for _, query := range queries {
		var first string
		for i := range 4 {
			value, err := store.Query(context.Background(), query, 5*time.Minute)
			if err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			if i == 0 {
				first = value.String()
				continue
			}
			if value.String() != first {
				t.Fatalf("%s: evaluation %d gave %s, the first %s", query, i, value, first)
			}
		}
		if got := sharedParser.cachedCount(query); got != 1 && !uncacheable(query) {
			t.Errorf("%s is not cached", query)
		}
	}
}

func uncacheable(query string) bool { return query == `sum(rate(istio_requests_total[5m:30s]))` }
