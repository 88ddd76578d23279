// Package live serves a running scenario to browsers, for workshops: the
// rollout's state and timeline stream as server-sent events from /events,
// and POST /actions applies an action or fault of the scenario contract now.
// Many browsers may watch one run; a browser that goes away does not stop it.
package live

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/canarylab/canarylab/duration"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

//go:embed page.html
var page embed.FS

// Server is the live view of one run.
type Server struct {
	scenario *scenario.Scenario
	actions  chan scenario.Event

	mu          sync.Mutex
	history     []message // every message so far, replayed to late joiners
	subscribers map[chan message]struct{}
	closed      bool
}

type message struct {
	kind string // SSE event name: event, state, result, hello
	data []byte
}

// New prepares the live view of sc.
func New(sc *scenario.Scenario) *Server {
	s := &Server{scenario: sc, actions: make(chan scenario.Event, 16), subscribers: map[chan message]struct{}{}}
	hello, _ := json.Marshal(map[string]any{"scenario": sc.Metadata.Name, "description": sc.Metadata.Description,
		"stable": sc.Spec.Stable, "release": sc.Spec.Release, "expect": sc.Spec.Expect})
	s.history = append(s.history, message{kind: "hello", data: hello})
	return s
}

// Actions delivers the actions browsers asked for; pass it to runner.Options.
func (s *Server) Actions() <-chan scenario.Event { return s.actions }

// Event publishes a timeline event.
func (s *Server) Event(_ string, event result.Event) { s.publish("event", event) }

// State publishes a state snapshot.
func (s *Server) State(_ string, state runner.State) { s.publish("state", state) }

// Result publishes the final result.
func (s *Server) Result(res *result.Result) { s.publish("result", res) }

func (s *Server) publish(kind string, value any) {
	data, err := json.Marshal(value)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	msg := message{kind: kind, data: data}
	if kind != "state" {
		s.history = append(s.history, msg)
	} else if n := len(s.history); n > 0 && s.history[n-1].kind == "state" {
		s.history[n-1] = msg // late joiners need the latest state only
	} else {
		s.history = append(s.history, msg)
	}
	for subscriber := range s.subscribers {
		select {
		case subscriber <- msg:
		default:
			// A browser that cannot keep up misses a message rather than
			// stalling the run.
		}
	}
}

// Close ends every event stream.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for subscriber := range s.subscribers {
		close(subscriber)
	}
	s.subscribers = nil
}

// Handler serves the page, the event stream and the actions.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		data, _ := page.ReadFile("page.html")
		w.Write(data)
	})
	mux.HandleFunc("GET /events", s.serveEvents)
	mux.HandleFunc("POST /actions", s.serveAction)
	return mux
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Connection", "keep-alive")

	subscriber := make(chan message, 256)
	s.mu.Lock()
	backlog := slices.Clone(s.history)
	closed := s.closed
	if !closed {
		s.subscribers[subscriber] = struct{}{}
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.subscribers != nil {
			delete(s.subscribers, subscriber)
		}
		s.mu.Unlock()
	}()
	for _, msg := range backlog {
		writeMessage(w, msg)
	}
	flusher.Flush()
	if closed {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case msg, open := <-subscriber:
			if !open {
				return
			}
			writeMessage(w, msg)
			flusher.Flush()
		}
	}
}

func writeMessage(w http.ResponseWriter, msg message) {
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", msg.kind, msg.data)
}

// actionRequest is the body of POST /actions.
type actionRequest struct {
	Action string            `json:"action,omitempty"`
	Fault  string            `json:"fault,omitempty"`
	For    duration.Duration `json:"for,omitempty"`
	Image  string            `json:"image,omitempty"`
	Rate   *float64          `json:"rate,omitempty"`
	Delay  duration.Duration `json:"delay,omitempty"`
	Target string            `json:"target,omitempty"`
	Count  int               `json:"count,omitempty"`
}

func (s *Server) serveAction(w http.ResponseWriter, r *http.Request) {
	var request actionRequest
	decoder := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&request); err != nil {
		httpError(w, http.StatusBadRequest, "the body must be JSON such as {\"action\": \"promote\"} or {\"fault\": \"metrics-outage\", \"for\": \"30s\"}: "+err.Error())
		return
	}
	event, err := s.toEvent(request)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		httpError(w, http.StatusConflict, "the run has ended")
		return
	}
	select {
	case s.actions <- event:
	default:
		httpError(w, http.StatusServiceUnavailable, "too many actions at once; try again")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]string{"accepted": event.Name()})
}

// toEvent checks a request against the scenario contract, with the same
// rules as a scenario file's events.
func (s *Server) toEvent(request actionRequest) (scenario.Event, error) {
	event := scenario.Event{Action: request.Action, Fault: request.Fault, For: request.For, Image: request.Image,
		Rate: request.Rate, Delay: request.Delay, Target: request.Target, Count: request.Count}
	switch {
	case event.Action == "" && event.Fault == "":
		return event, fmt.Errorf("give an action (%s) or a fault (%s)", strings.Join(scenario.Actions, ", "), strings.Join(scenario.Faults, ", "))
	case event.Action != "" && event.Fault != "":
		return event, fmt.Errorf("give an action or a fault, not both")
	case event.Action != "" && !slices.Contains(scenario.Actions, event.Action):
		return event, fmt.Errorf("unknown action %q: one of %s", event.Action, strings.Join(scenario.Actions, ", "))
	case event.Fault != "" && !slices.Contains(scenario.Faults, event.Fault):
		return event, fmt.Errorf("unknown fault %q: one of %s", event.Fault, strings.Join(scenario.Faults, ", "))
	}
	if event.Action == scenario.ActionRelease {
		if _, ok := s.scenario.Profiles[event.Image]; !ok {
			return event, fmt.Errorf("release needs an image with a behaviour profile, e.g. canarylab/demo:yellow")
		}
	}
	if event.Fault != "" {
		if event.Target == "" {
			event.Target = scenario.TargetCanary
		}
		if !slices.Contains([]string{scenario.TargetCanary, scenario.TargetStable, scenario.TargetAll}, event.Target) {
			return event, fmt.Errorf("unknown target %q: canary, stable or all", event.Target)
		}
		switch event.Fault {
		case scenario.FaultErrorInjection:
			if event.Rate == nil || *event.Rate < 0 || *event.Rate > 1 {
				return event, fmt.Errorf("error-injection needs a rate between 0 and 1")
			}
		case scenario.FaultLatencyInjection:
			if event.Delay.Duration <= 0 {
				return event, fmt.Errorf("latency-injection needs a positive delay such as \"500ms\"")
			}
		case scenario.FaultPodKill:
			if event.Count <= 0 {
				event.Count = scenario.DefaultPodKillCount
			}
		case scenario.FaultControllerRestart:
			if event.For.Duration <= 0 {
				event.For.Duration = scenario.DefaultControllerDowntime
			}
		case scenario.FaultGitopsRevert:
			event.Every.Duration = scenario.DefaultGitopsRevertEvery
		}
		if event.For.Duration < 0 {
			return event, fmt.Errorf("for must not be negative")
		}
	}
	return event, nil
}

func httpError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": message})
}
