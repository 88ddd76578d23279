package metricstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

func TestParseExprRefusesQueriesBeyondTheBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query, want string
	}{
		{`max_over_time(x[30d:1ms])`, "the limit is 11000"},
		{`max_over_time(rate(x[1m])[12d:])`, "step 1m"}, // no step: the 1m evaluation interval
		{`sum(x) + ` + strings.Repeat("x + ", MaxQueryBytes/4) + `x`, "bytes long"},
	} {
		err := ParseExpr(tc.query)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseExpr(%.40q) = %v, want an error containing %q", tc.query, err, tc.want)
		}
	}
	for _, query := range []string{`max_over_time(x[1h:1s])`, `max_over_time(rate(x[1m])[5m:])`, `sum(rate(x[5m]))`} {
		if err := ParseExpr(query); err != nil {
			t.Errorf("ParseExpr(%q) = %v, want it accepted", query, err)
		}
	}
}

func TestQueriesAreBoundedBySamplesNotWallTime(t *testing.T) {
	t.Parallel()
	store, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var samples []Sample
	for i := range 3000 {
		samples = append(samples, Sample{Labels: labels.FromStrings("__name__", "x", "pod", strings.Repeat("p", 1+i%7)+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)))})
	}
	for at := time.Duration(0); at <= 2*time.Hour; at += 15 * time.Second {
		if err := store.Append(at, samples); err != nil {
			t.Fatal(err)
		}
	}
	// 3000 series x 480 points = 1.44 million samples: over MaxSamples.
	_, err = store.Query(context.Background(), `x[2h]`, 2*time.Hour)
	if err == nil || !strings.Contains(err.Error(), "too many samples") {
		t.Fatalf("query over %d samples: err = %v, want the engine's sample limit", 3000*480, err)
	}
	// The subquery bound holds at query time too (templates resolved from args).
	if _, err := store.Query(context.Background(), `max_over_time(x[30d:1ms])`, 2*time.Hour); err == nil || !strings.Contains(err.Error(), "the limit is 11000") {
		t.Fatalf("tiny-step subquery: err = %v, want the points bound", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := store.Query(ctx, `sum(x)`, 2*time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("query on a cancelled context: err = %v, want context.Canceled", err)
	}
}
