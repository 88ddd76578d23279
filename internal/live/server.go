// Package live serves a running scenario to browsers, for workshops: the
// rollout's state and timeline stream as server-sent events from /events,
// and POST /actions applies an action or fault of the scenario contract now.
// Many browsers may watch one run; a browser that goes away does not stop it.
//
// Every page open in the user's browser can send requests to a server on
// loopback, so the view answers only requests that name it by the address
// it listens on (a page on a rebound DNS name cannot read it), takes
// actions only as JSON from its own origin (a cross-site form or no-cors
// fetch cannot abort a workshop's run), and its page shows the run's data
// as text, never as markup, under a Content-Security-Policy that runs no
// script but its own.
package live

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/scenario/duration"
)

//go:embed page.html app.js app.css
var assets embed.FS

const (
	// historyLimit bounds the timeline events replayed to a browser that
	// joins late, however long the run and however many actions it took;
	// the hello, the latest state and the result are always replayed.
	historyLimit = 1000
	// maxActionBody caps a POST /actions body; the largest valid one is
	// about 150 bytes.
	maxActionBody = 4 << 10
	// Actions are limited for the whole view, not per browser: a workshop
	// room shares one run, and one loopback address.
	actionRate  rate.Limit = 5 // per second
	actionBurst            = 10
)

// Timeouts of the HTTP server: a request arrives whole within readTimeout
// or its connection is closed (net/http lifts the read deadline once a
// request is read, so it does not end a stream). There is no write
// timeout, since /events streams for the whole run.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
)

// contentSecurityPolicy lets the page load its own script, style and event
// stream and nothing else: no inline script, no frames, no forms.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Server is the live view of one run.
type Server struct {
	scenario *scenario.Scenario
	actions  chan scenario.Event
	limiter  *rate.Limiter
	now      func() time.Time // the rate limit's clock

	mu          sync.Mutex
	history     history
	subscribers map[chan message]struct{}
	ended       bool // the run is over: actions are refused
	closed      bool // the event streams are over
}

// messageKind is the SSE event name of a message.
type messageKind string

const (
	kindHello  messageKind = "hello"
	kindEvent  messageKind = "event"
	kindState  messageKind = "state"
	kindResult messageKind = "result"
)

type message struct {
	kind messageKind
	data []byte
}

// history is what a browser that joins late is sent first: the hello, the
// latest timeline events, the latest state and the result.
type history struct {
	hello  message
	events []message // at most historyLimit, oldest first
	state  *message
	result *message
}

func (h *history) add(msg message) {
	switch msg.kind {
	case kindState:
		h.state = &msg
	case kindResult:
		h.result = &msg
	default:
		if len(h.events) == historyLimit {
			h.events = h.events[1:] // append reallocates to about historyLimit
		}
		h.events = append(h.events, msg)
	}
}

func (h *history) messages() []message {
	messages := append([]message{h.hello}, h.events...)
	if h.state != nil {
		messages = append(messages, *h.state)
	}
	if h.result != nil {
		messages = append(messages, *h.result)
	}
	return messages
}

// New prepares the live view of sc.
func New(sc *scenario.Scenario) *Server {
	s := &Server{scenario: sc, actions: make(chan scenario.Event, 16), subscribers: map[chan message]struct{}{},
		limiter: rate.NewLimiter(actionRate, actionBurst), now: time.Now}
	hello, _ := json.Marshal(map[string]any{"scenario": sc.Metadata.Name, "description": sc.Metadata.Description,
		"stable": sc.Spec.Stable, "release": sc.Spec.Release, "expect": sc.Spec.Expect,
		// The page offers the buttons of what the scenario's controller has.
		"actions": scenario.ActionsFor(sc.Spec.Controller), "faults": scenario.FaultsFor(sc.Spec.Controller)})
	s.history.hello = message{kind: kindHello, data: hello}
	return s
}

// Actions delivers the actions browsers asked for; pass it to runner.Options.
func (s *Server) Actions() <-chan scenario.Event { return s.actions }

// Event publishes a timeline event.
func (s *Server) Event(_ string, event result.Event) { s.publish(kindEvent, event) }

// State publishes a state snapshot. A colour the scenario loader would
// refuse (a scenario built in Go skips it) is left out, and the page draws
// that version in its default colour.
func (s *Server) State(_ string, state runner.State) {
	if state.Colors != nil {
		colors := make(map[string]string, len(state.Colors)) // the run's map is the run's
		for version, color := range state.Colors {
			if fixtures.ValidColor(color) {
				colors[version] = color
			}
		}
		state.Colors = colors
	}
	s.publish(kindState, state)
}

// Result publishes the final result. The run is over: from now on actions
// are refused with 409 Conflict rather than accepted and never applied.
func (s *Server) Result(res *result.Result) {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	if res != nil {
		s.publish(kindResult, res)
	}
}

func (s *Server) publish(kind messageKind, value any) {
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
	s.history.add(msg)
	for subscriber := range s.subscribers {
		select {
		case subscriber <- msg:
		default:
			// A browser that cannot keep up misses a message rather than
			// stalling the run.
		}
	}
}

// Close ends every event stream, and the run if Result did not.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	if s.closed {
		return
	}
	s.closed = true
	for subscriber := range s.subscribers {
		close(subscriber)
	}
	s.subscribers = nil
}

// HTTPServer is the view's http.Server for a listener at listenAddr, with
// timeouts, so that a client that sends a request slowly, or never
// finishes it, does not hold a connection.
func (s *Server) HTTPServer(listenAddr string) *http.Server {
	return &http.Server{Handler: s.Handler(listenAddr), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
}

// Handler serves the page, the event stream and the actions to requests
// that name the server by listenAddr, the address it listens on (the
// listener's Addr after net.Listen); see listenAddress.allows.
func (s *Server) Handler(listenAddr string) http.Handler {
	address := parseListenAddress(listenAddr)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", asset("page.html", "text/html; charset=utf-8"))
	mux.Handle("GET /app.js", asset("app.js", "text/javascript; charset=utf-8"))
	mux.Handle("GET /app.css", asset("app.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /events", s.serveEvents)
	mux.HandleFunc("POST /actions", func(w http.ResponseWriter, r *http.Request) { s.serveAction(w, r, address) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := w.Header()
		header.Set("Content-Security-Policy", contentSecurityPolicy)
		header.Set("X-Frame-Options", "DENY")
		header.Set("X-Content-Type-Options", "nosniff")
		header.Set("Referrer-Policy", "no-referrer")
		if !address.allows(r.Host) {
			http.Error(w, fmt.Sprintf("refused: Host %q does not name this live view, which listens on %s", r.Host, address.addr),
				http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func asset(name, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := assets.ReadFile(name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(data)
	})
}

// listenAddress is the address the server listens on, which a request must
// name in its Host, and a POST its Origin: a page on another name that
// resolves to the server (DNS rebinding) or on another site is refused.
type listenAddress struct {
	addr string
	host string // lower case, without brackets
	ip   net.IP // nil for a name
	port string
}

func parseListenAddress(addr string) listenAddress {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return listenAddress{addr: addr} // allows nothing
	}
	host = strings.ToLower(host)
	return listenAddress{addr: addr, host: host, ip: net.ParseIP(host), port: port}
}

// allows reports whether hostport names the server: on its port, for a
// loopback bind any loopback address or localhost, for an unspecified bind
// (0.0.0.0, ::) any IP address or localhost, else its own address. IP
// addresses are safe to accept: only names can be rebound.
func (a listenAddress) allows(hostport string) bool {
	if a.port == "" {
		return false
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), "80"
	}
	if port != a.port {
		return false
	}
	host = strings.ToLower(host)
	ip := net.ParseIP(host)
	switch {
	case a.host == "localhost" || a.ip != nil && a.ip.IsLoopback():
		return host == "localhost" || ip != nil && ip.IsLoopback()
	case a.ip != nil && a.ip.IsUnspecified():
		return host == "localhost" || ip != nil
	case a.ip != nil:
		return ip != nil && ip.Equal(a.ip)
	}
	return host == a.host
}

// allowsOrigin reports whether origin is a page of the server itself.
func (a listenAddress) allowsOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "http" && u.User == nil && (u.Path == "" || u.Path == "/") && a.allows(u.Host)
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
	backlog := s.history.messages()
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

func (s *Server) serveAction(w http.ResponseWriter, r *http.Request, address listenAddress) {
	// A browser sends Origin with every POST, also a no-cors one; only
	// other clients (curl) send none.
	if origin := r.Header.Get("Origin"); origin != "" && !address.allowsOrigin(origin) {
		httpError(w, http.StatusForbidden, fmt.Sprintf("actions come from the live view's own page, not from %s", origin))
		return
	}
	// A cross-site page can send JSON only after a CORS preflight, which
	// this server does not answer; text/plain and forms it can send freely.
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mediaType != "application/json" {
		httpError(w, http.StatusUnsupportedMediaType, "send the action with Content-Type: application/json")
		return
	}
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended {
		httpError(w, http.StatusConflict, "the run has ended; start another run to act on it")
		return
	}
	if !s.limiter.AllowN(s.now(), 1) {
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusTooManyRequests, "too many actions; try again in a second")
		return
	}
	var request actionRequest
	decoder := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxActionBody))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&request); err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("an action is at most %d bytes of JSON", maxActionBody))
			return
		}
		httpError(w, http.StatusBadRequest, "the body must be JSON such as {\"action\": \"promote\"} or {\"fault\": \"metrics-outage\", \"for\": \"30s\"}: "+err.Error())
		return
	}
	event, err := s.toEvent(request)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
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

// toEvent checks a request with the scenario's own rules for its events
// (scenario.DefaultEvent, then CheckEvent): what a file may say, a button
// may do, and nothing else.
func (s *Server) toEvent(request actionRequest) (scenario.Event, error) {
	event := scenario.Event{Action: scenario.Action(request.Action), Fault: scenario.Fault(request.Fault), For: request.For, Image: request.Image,
		Rate: request.Rate, Delay: request.Delay, Target: scenario.Target(request.Target), Count: request.Count}
	scenario.DefaultEvent(&event)
	var messages []string
	for _, problem := range s.scenario.CheckEvent(event) {
		messages = append(messages, problem.Message)
	}
	if len(messages) > 0 {
		return event, errors.New(strings.Join(messages, "; "))
	}
	return event, nil
}

func httpError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": message})
}
