package metricstore

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// The API answers the Prometheus Go client, the one Argo Rollouts' provider
// uses, as a real Prometheus would; the metrics faults show as the client
// sees them.
func TestAPIAnswersThePrometheusClient(t *testing.T) {
	t.Parallel()
	store, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	series := labels.FromStrings("__name__", "istio_requests_total", "response_code", "200")
	for at := time.Duration(0); at <= 2*time.Minute; at += 15 * time.Second {
		if err := store.Append(at, []Sample{{Labels: series, Value: 5 * at.Seconds()}}); err != nil {
			t.Fatal(err)
		}
	}
	wallStart := time.Now().Add(-2 * time.Minute)
	handler := &API{Store: store, Lock: &sync.Mutex{}, Clock: func(at time.Time) time.Duration { return at.Sub(wallStart) }}
	server := httptest.NewServer(handler)
	defer server.Close()
	client, err := api.NewClient(api.Config{Address: server.URL})
	if err != nil {
		t.Fatal(err)
	}
	prom := promv1.NewAPI(client)
	value, _, _, err := prom.Query(context.Background(), `sum(rate(istio_requests_total[1m]))`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	vector, ok := value.(model.Vector)
	if !ok || len(vector) != 1 || vector[0].Value < 4.9 || vector[0].Value > 5.1 {
		t.Fatalf("rate %v, want a vector of 5", value)
	}
	handler.SetEmpty(true)
	if value, _, _, err := prom.Query(context.Background(), `up`, time.Now()); err != nil || len(value.(model.Vector)) != 0 {
		t.Fatalf("metrics-empty: %v %v", value, err)
	}
	handler.SetEmpty(false)
	handler.SetOutage(true)
	if _, _, _, err := prom.Query(context.Background(), `up`, time.Now()); err == nil {
		t.Fatal("a query during an outage succeeded")
	}
	handler.SetOutage(false)
	if _, _, _, err := prom.Query(context.Background(), `sum(`, time.Now()); err == nil {
		t.Fatal("a bad query succeeded")
	}

	// A range query: one point per step, at wall-clock timestamps.
	end := time.Now()
	matrix, _, _, err := prom.QueryRange(context.Background(), `sum(rate(istio_requests_total[1m]))`,
		promv1.Range{Start: end.Add(-time.Minute), End: end, Step: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	streams, ok := matrix.(model.Matrix)
	if !ok || len(streams) != 1 || len(streams[0].Values) != 5 {
		t.Fatalf("range query answered %v, want one series of 5 points", matrix)
	}
	for _, point := range streams[0].Values {
		if point.Value < 4.9 || point.Value > 5.1 {
			t.Errorf("rate %v at %v, want 5", point.Value, point.Timestamp)
		}
	}
	if last := streams[0].Values[4].Timestamp.Time(); last.Sub(end).Abs() > time.Second {
		t.Errorf("last point at %v, want the query's end %v (wall time)", last, end)
	}
	if _, _, _, err := prom.QueryRange(context.Background(), `up`, promv1.Range{Start: end, End: end.Add(-time.Minute), Step: time.Second}); err == nil {
		t.Error("a range that ends before it starts was answered")
	}
}
