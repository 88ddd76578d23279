package metricstore

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
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

func TestRemoveProcessDirsRemovesWhatCloseWouldHave(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	store, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(store.chunkDir); err != nil {
		t.Fatalf("chunk directory missing while open: %v", err)
	}
	if !strings.HasPrefix(filepath.Base(store.chunkDir), fmt.Sprintf("canarylab-tsdb-%d-", os.Getpid())) {
		t.Errorf("chunk directory %s is not named after the process", store.chunkDir)
	}
	if err := RemoveProcessDirs(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(store.chunkDir); !os.IsNotExist(err) {
		t.Fatalf("chunk directory still there after RemoveProcessDirs: %v", err)
	}
	store.head.Close()
}
