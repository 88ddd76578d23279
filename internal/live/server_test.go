package live

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	_ "github.com/canarylab/canarylab/backends"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

func post(t *testing.T, url, body string) (int, map[string]string) {
	t.Helper()
	response, err := http.Post(url+"/actions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	var decoded map[string]string
	json.NewDecoder(response.Body).Decode(&decoded)
	return response.StatusCode, decoded
}

func TestActionsAreCheckedAgainstTheContract(t *testing.T) {
	t.Parallel()
	sc, err := scenario.Load("../../scenarios/manual-pause-waits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	view := New(sc)
	server := httptest.NewServer(view.Handler())
	defer server.Close()
	cases := []struct {
		body string
		code int
	}{
		{`{"action":"promote"}`, http.StatusAccepted},
		{`{"fault":"metrics-outage","for":"30s"}`, http.StatusAccepted},
		{`{"action":"launch-missiles"}`, http.StatusBadRequest},
		{`{"fault":"meteor"}`, http.StatusBadRequest},
		{`{"fault":"error-injection"}`, http.StatusBadRequest},
		{`{"action":"promote","fault":"no-traffic"}`, http.StatusBadRequest},
		{`{"action":"promote","colour":"red"}`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
	}
	for _, tc := range cases {
		code, body := post(t, server.URL, tc.body)
		if code != tc.code {
			t.Errorf("%s: status %d (%v), want %d", tc.body, code, body, tc.code)
		}
		if code == http.StatusBadRequest && body["error"] == "" {
			t.Errorf("%s: a 400 without a message", tc.body)
		}
	}
	if got := len(view.Actions()); got != 2 {
		t.Errorf("%d actions queued, want 2", got)
	}
}

// sseReader reads server-sent events until a predicate holds or a deadline.
type sseReader struct {
	scanner *bufio.Scanner
}

func (r *sseReader) until(t *testing.T, deadline time.Time, done func(kind string, data []byte) bool) {
	t.Helper()
	kind := ""
	for r.scanner.Scan() {
		if time.Now().After(deadline) {
			t.Fatal("deadline passed waiting for an event")
		}
		line := r.scanner.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if done(kind, []byte(strings.TrimPrefix(line, "data: "))) {
				return
			}
		}
	}
	t.Fatalf("event stream ended: %v", r.scanner.Err())
}

// A paused rollout, watched over SSE, is promoted by POST /actions.
func TestPromoteAPausedRolloutLive(t *testing.T) {
	t.Parallel()
	sc, err := scenario.Load("../../scenarios/manual-pause-waits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	view := New(sc)
	server := httptest.NewServer(view.Handler())
	defer server.Close()

	done := make(chan *result.Result, 1)
	go func() {
		res, _ := runner.Run(ctx, "sim", sc, runner.Options{Seed: 1, Pace: 20, Actions: view.Actions(), State: view.State, Progress: view.Event})
		view.Result(res)
		done <- res
	}()

	request, _ := http.NewRequestWithContext(ctx, http.MethodGet, server.URL+"/events", nil)
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	if got := response.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Fatalf("content type %q", got)
	}
	events := &sseReader{scanner: bufio.NewScanner(response.Body)}
	deadline := time.Now().Add(20 * time.Second)
	sawWeight := false
	events.until(t, deadline, func(kind string, data []byte) bool {
		if kind == "event" && strings.Contains(string(data), `"WeightChanged"`) {
			sawWeight = true
		}
		return kind == "event" && strings.Contains(string(data), `"RolloutPaused"`)
	})
	if !sawWeight {
		t.Error("no WeightChanged event before the pause")
	}
	if code, body := post(t, server.URL, `{"action":"promote"}`); code != http.StatusAccepted {
		t.Fatalf("promote refused: %d %v", code, body)
	}
	events.until(t, deadline, func(kind string, data []byte) bool {
		return kind == "event" && strings.Contains(string(data), `"RolloutPromoted"`)
	})
	select {
	case res := <-done:
		if res.Outcome.Result != scenario.OutcomePromoted {
			t.Fatalf("outcome %s, want promoted after the live promote", res.Outcome.Result)
		}
	case <-ctx.Done():
		t.Fatal("the run did not end")
	}
}
