package duration

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestYAMLAndJSON(t *testing.T) {
	t.Parallel()
	var d struct {
		D Duration `yaml:"d"`
	}
	if err := yaml.Unmarshal([]byte("d: 1m30s"), &d); err != nil || d.D.Duration != 90*time.Second {
		t.Fatalf("1m30s: %v %v", d.D, err)
	}
	for _, bad := range []string{"d: 90", "d: soon", "d: [1s]"} {
		err := yaml.Unmarshal([]byte(bad), &d)
		if err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v, want an error with its line", bad, err)
		}
	}
	data, err := json.Marshal(Of(1500 * time.Millisecond))
	if err != nil || string(data) != `"1.5s"` {
		t.Fatalf("JSON %s %v", data, err)
	}
	var back Duration
	if err := json.Unmarshal(data, &back); err != nil || back.Duration != 1500*time.Millisecond {
		t.Fatalf("JSON round trip: %v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`15`), &back); err == nil {
		t.Fatal("a JSON number was accepted as a duration")
	}
}

func TestAddSaturates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ a, b, want time.Duration }{
		{time.Second, time.Minute, 61 * time.Second},
		{math.MaxInt64 - 1, 2, math.MaxInt64},
		{2562047 * time.Hour, 2562047 * time.Hour, math.MaxInt64},
		{math.MinInt64 + 1, -2, math.MinInt64},
		{math.MaxInt64, math.MinInt64, -1},
	} {
		if got := Add(tc.a, tc.b); got != tc.want {
			t.Errorf("Add(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
