package live

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

// serve starts the view on a loopback port, as serve.go does: the
// handler is told the address it listens on.
func serve(t *testing.T, view *Server) *httptest.Server {
	t.Helper()
	server := httptest.NewUnstartedServer(nil)
	server.Config.Handler = view.Handler(server.Listener.Addr().String())
	server.Start()
	t.Cleanup(server.Close)
	return server
}

// unlimited lifts the rate limit, for tests of something else.
func unlimited(view *Server) *Server {
	view.limiter = rate.NewLimiter(rate.Inf, 0)
	return view
}

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
	view := unlimited(New(sc))
	server := serve(t, view)
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
	server := serve(t, view)

	done := make(chan *result.Result, 1)
	go func() {
		res, _ := runner.Run(ctx, sim.New(), sc, runner.Options{Seed: 1, Pace: 20, Actions: view.Actions(), State: view.State, Progress: view.Event})
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

func loadScenario(t *testing.T, path string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// send makes one request and returns its response, body read.
func send(t *testing.T, method, url, host string, header map[string]string, body string) (*http.Response, string) {
	t.Helper()
	request, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		request.Host = host
	}
	for name, value := range header {
		request.Header.Set(name, value)
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	data, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response, string(data)
}

var jsonType = map[string]string{"Content-Type": "application/json"}

func TestListenAddressAllows(t *testing.T) {
	t.Parallel()
	cases := []struct {
		listen, host string
		allowed      bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"127.0.0.1:8080", "localhost:8080", true},
		{"127.0.0.1:8080", "LOCALHOST:8080", true},
		{"127.0.0.1:8080", "[::1]:8080", true},
		{"127.0.0.1:8080", "127.0.0.1:8081", false},
		{"127.0.0.1:8080", "127.0.0.1", false},
		{"127.0.0.1:8080", "evil.example:8080", false},
		{"127.0.0.1:8080", "localhost.evil.example:8080", false},
		{"127.0.0.1:8080", "192.168.1.5:8080", false},
		{"127.0.0.1:8080", "", false},
		{"[::1]:8080", "[::1]:8080", true},
		{"[::1]:8080", "localhost:8080", true},
		{"127.0.0.1:80", "localhost", true},
		{"192.168.1.5:8080", "192.168.1.5:8080", true},
		{"192.168.1.5:8080", "localhost:8080", false},
		{"192.168.1.5:8080", "canarylab.example:8080", false},
		// An unspecified bind answers any address of the machine, but no name
		// but localhost: an IP address cannot be rebound.
		{"0.0.0.0:8080", "192.168.1.5:8080", true},
		{"0.0.0.0:8080", "localhost:8080", true},
		{"0.0.0.0:8080", "evil.example:8080", false},
		{"[::]:8080", "[fe80::1]:8080", true},
		{"not an address", "not an address", false},
	}
	for _, tc := range cases {
		t.Run(tc.listen+" "+tc.host, func(t *testing.T) {
			t.Parallel()
			if got := parseListenAddress(tc.listen).allows(tc.host); got != tc.allowed {
				t.Errorf("listening on %s, Host %q allowed %v, want %v", tc.listen, tc.host, got, tc.allowed)
			}
		})
	}
}

// A page on a name that resolves to the server (DNS rebinding) names
// that name in Host: no route answers it.
func TestEveryRouteRefusesAnotherHost(t *testing.T) {
	t.Parallel()
	view := unlimited(New(loadScenario(t, "../../scenarios/manual-pause-waits.yaml")))
	server := serve(t, view)
	_, port, _ := net.SplitHostPort(server.Listener.Addr().String())
	routes := []struct{ method, path string }{
		{http.MethodGet, "/"}, {http.MethodGet, "/app.js"}, {http.MethodGet, "/events"}, {http.MethodPost, "/actions"},
	}
	for _, route := range routes {
		for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1:1"} {
			response, body := send(t, route.method, server.URL+route.path, host, jsonType, `{"action":"abort"}`)
			if response.StatusCode != http.StatusMisdirectedRequest || !strings.HasPrefix(response.Header.Get("Content-Type"), "text/plain") ||
				!strings.Contains(body, "does not name this live view") {
				t.Errorf("%s %s with Host %s: %d %q %q, want 421 with a plain message", route.method, route.path, host,
					response.StatusCode, response.Header.Get("Content-Type"), body)
			}
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port} {
		if response, body := send(t, http.MethodGet, server.URL+"/", host, nil, ""); response.StatusCode != http.StatusOK {
			t.Errorf("GET / with Host %s: %d %s", host, response.StatusCode, body)
		}
	}
	if got := len(view.Actions()); got != 0 {
		t.Errorf("%d actions queued from another host, want none", got)
	}
}

// Any page in the browser can POST to the view; only its own page's
// actions are applied.
func TestActionsComeFromTheViewsOwnOrigin(t *testing.T) {
	t.Parallel()
	view := unlimited(New(loadScenario(t, "../../scenarios/manual-pause-waits.yaml")))
	server := serve(t, view)
	_, port, _ := net.SplitHostPort(server.Listener.Addr().String())
	cases := []struct {
		origin string
		code   int
	}{
		{"http://evil.example", http.StatusForbidden},
		{"http://evil.example:" + port, http.StatusForbidden},
		{"null", http.StatusForbidden},
		{"https://127.0.0.1:" + port, http.StatusForbidden},
		{"http://127.0.0.1:1", http.StatusForbidden},
		{"http://127.0.0.1:" + port, http.StatusAccepted},
		{"http://localhost:" + port, http.StatusAccepted},
		{"", http.StatusAccepted}, // curl
	}
	accepted := 0
	for _, tc := range cases {
		header := map[string]string{"Content-Type": "application/json"}
		if tc.origin != "" {
			header["Origin"] = tc.origin
		}
		response, body := send(t, http.MethodPost, server.URL+"/actions", "", header, `{"action":"abort"}`)
		if response.StatusCode != tc.code {
			t.Errorf("Origin %q: %d %s, want %d", tc.origin, response.StatusCode, body, tc.code)
		}
		if tc.code == http.StatusAccepted {
			accepted++
		}
	}
	if got := len(view.Actions()); got != accepted {
		t.Errorf("%d actions queued, want %d", got, accepted)
	}
}

// A cross-site page can send text/plain or a form without a CORS
// preflight, JSON not: only JSON is taken.
func TestActionsOnlyAsJSON(t *testing.T) {
	t.Parallel()
	view := unlimited(New(loadScenario(t, "../../scenarios/manual-pause-waits.yaml")))
	server := serve(t, view)
	cases := []struct {
		contentType string
		code        int
	}{
		{"", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"text/plain;charset=UTF-8", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"application/json-seq", http.StatusUnsupportedMediaType},
		{"application/json", http.StatusAccepted},
		{"application/json; charset=utf-8", http.StatusAccepted},
	}
	for _, tc := range cases {
		request, err := http.NewRequest(http.MethodPost, server.URL+"/actions", strings.NewReader(`{"action":"abort"}`))
		if err != nil {
			t.Fatal(err)
		}
		if tc.contentType != "" {
			request.Header.Set("Content-Type", tc.contentType)
		}
		response, err := http.DefaultClient.Do(request)
		if err != nil {
			t.Fatal(err)
		}
		response.Body.Close()
		if response.StatusCode != tc.code {
			t.Errorf("Content-Type %q: %d, want %d", tc.contentType, response.StatusCode, tc.code)
		}
	}
	if got := len(view.Actions()); got != 2 {
		t.Errorf("%d actions queued, want 2", got)
	}
}

func TestOversizeActionIsRefused(t *testing.T) {
	t.Parallel()
	view := unlimited(New(loadScenario(t, "../../scenarios/manual-pause-waits.yaml")))
	server := serve(t, view)
	body := `{"action":"release","image":"` + strings.Repeat("x", maxActionBody) + `"}`
	if code, answer := post(t, server.URL, body); code != http.StatusRequestEntityTooLarge || answer["error"] == "" {
		t.Errorf("a %d-byte action: %d %v, want 413 with a message", len(body), code, answer)
	}
	if got := len(view.Actions()); got != 0 {
		t.Errorf("%d actions queued, want none", got)
	}
}

func TestActionsAreRateLimited(t *testing.T) {
	t.Parallel()
	view := New(loadScenario(t, "../../scenarios/manual-pause-waits.yaml"))
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	view.now = func() time.Time { return now } // read only by requests, which the test makes one at a time
	server := serve(t, view)
	for i := range actionBurst {
		if code, answer := post(t, server.URL, `{"action":"promote"}`); code != http.StatusAccepted {
			t.Fatalf("action %d of a burst of %d: %d %v", i+1, actionBurst, code, answer)
		}
	}
	response, body := send(t, http.MethodPost, server.URL+"/actions", "", jsonType, `{"action":"promote"}`)
	if response.StatusCode != http.StatusTooManyRequests || response.Header.Get("Retry-After") == "" {
		t.Fatalf("one more action at once: %d %s (Retry-After %q), want 429 with Retry-After", response.StatusCode, body, response.Header.Get("Retry-After"))
	}
	now = now.Add(time.Second)
	if code, answer := post(t, server.URL, `{"action":"promote"}`); code != http.StatusAccepted {
		t.Fatalf("an action a second later: %d %v", code, answer)
	}
	if got := len(view.Actions()); got != actionBurst+1 {
		t.Errorf("%d actions queued, want %d", got, actionBurst+1)
	}
}

// Once the run is over nothing applies an action: it is refused, not
// accepted and lost.
func TestActionsAfterTheRunEndedConflict(t *testing.T) {
	t.Parallel()
	sc := loadScenario(t, "../../scenarios/manual-pause-waits.yaml")
	for name, end := range map[string]func(*Server){
		"result": func(view *Server) { view.Result(&result.Result{Scenario: sc.Metadata.Name, Events: []result.Event{}}) },
		"close":  func(view *Server) { view.Close() },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			view := unlimited(New(sc))
			server := serve(t, view)
			if code, answer := post(t, server.URL, `{"action":"promote"}`); code != http.StatusAccepted {
				t.Fatalf("during the run: %d %v", code, answer)
			}
			end(view)
			if code, answer := post(t, server.URL, `{"action":"promote"}`); code != http.StatusConflict || answer["error"] == "" {
				t.Fatalf("after the run: %d %v, want 409 with a message", code, answer)
			}
		})
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	view := unlimited(New(loadScenario(t, "../../scenarios/manual-pause-waits.yaml")))
	view.Close() // /events answers the history and ends
	server := serve(t, view)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
			"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	}
	requests := []struct {
		method, path, host string
		header             map[string]string
		code               int
		contentType        string
	}{
		{http.MethodGet, "/", "", nil, http.StatusOK, "text/html; charset=utf-8"},
		{http.MethodGet, "/app.js", "", nil, http.StatusOK, "text/javascript; charset=utf-8"},
		{http.MethodGet, "/app.css", "", nil, http.StatusOK, "text/css; charset=utf-8"},
		{http.MethodGet, "/events", "", nil, http.StatusOK, "text/event-stream"},
		{http.MethodGet, "/nothing", "", nil, http.StatusNotFound, "text/plain; charset=utf-8"},
		{http.MethodPost, "/actions", "", jsonType, http.StatusConflict, "application/json"},
		{http.MethodPost, "/actions", "", nil, http.StatusUnsupportedMediaType, "application/json"},
		{http.MethodGet, "/", "evil.example", nil, http.StatusMisdirectedRequest, "text/plain; charset=utf-8"},
	}
	for _, tc := range requests {
		response, body := send(t, tc.method, server.URL+tc.path, tc.host, tc.header, `{"action":"promote"}`)
		if response.StatusCode != tc.code || response.Header.Get("Content-Type") != tc.contentType {
			t.Errorf("%s %s: %d %q, want %d %q: %s", tc.method, tc.path, response.StatusCode, response.Header.Get("Content-Type"), tc.code, tc.contentType, body)
		}
		for name, value := range want {
			if got := response.Header.Get(name); got != value {
				t.Errorf("%s %s (%d): %s %q, want %q", tc.method, tc.path, tc.code, name, got, value)
			}
		}
	}
}

// Under that policy an inline script or style would not run; and the
// page's script puts data into the page as text only.
func TestThePageNeedsNoInlineScriptOrStyle(t *testing.T) {
	t.Parallel()
	page, err := os.ReadFile("page.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, inline := range []*regexp.Regexp{regexp.MustCompile(`<script(\s[^>]*)?>[^<]`), regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`), regexp.MustCompile(`\son[a-z]+=`)} {
		if found := inline.Find(page); found != nil {
			t.Errorf("page.html has inline %q, which the Content-Security-Policy blocks", found)
		}
	}
	script, err := os.ReadFile("app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, markup := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(string(script), markup) {
			t.Errorf("app.js uses %s: put data into the page as text nodes", markup)
		}
	}
}

// However long the run and however many actions browsers send, a late
// joiner gets the hello, the latest historyLimit events, the latest state
// and the result.
func TestHistoryIsBounded(t *testing.T) {
	t.Parallel()
	sc := loadScenario(t, "../../scenarios/manual-pause-waits.yaml")
	view := New(sc)
	const extra = 250
	for i := range historyLimit + extra {
		view.Event(sc.Metadata.Name, result.Event{AtSeconds: float64(i), Type: result.ActionApplied, Action: string(scenario.ActionPromote)})
		view.State(sc.Metadata.Name, runner.State{AtSeconds: float64(i)})
	}
	view.Result(&result.Result{Scenario: sc.Metadata.Name, Events: []result.Event{}})
	view.Close() // /events answers the history and ends
	server := serve(t, view)
	response, body := send(t, http.MethodGet, server.URL+"/events", "", nil, "")
	if response.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %d %s", response.StatusCode, body)
	}
	var kinds []string
	var events []result.Event
	var state runner.State
	for line := range strings.Lines(body) {
		line = strings.TrimSuffix(line, "\n")
		if kind, ok := strings.CutPrefix(line, "event: "); ok {
			kinds = append(kinds, kind)
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var err error
		switch kinds[len(kinds)-1] {
		case "event":
			var event result.Event
			err = json.Unmarshal([]byte(data), &event)
			events = append(events, event)
		case "state":
			err = json.Unmarshal([]byte(data), &state)
		}
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
	}
	if len(kinds) != historyLimit+3 || kinds[0] != "hello" || kinds[len(kinds)-2] != "state" || kinds[len(kinds)-1] != "result" {
		t.Fatalf("replayed %d messages, want hello, %d events, state, result; first %v, last %v", len(kinds), historyLimit, kinds[:2], kinds[len(kinds)-2:])
	}
	if len(events) != historyLimit || events[0].AtSeconds != extra || events[len(events)-1].AtSeconds != historyLimit+extra-1 {
		t.Errorf("replayed %d events from %gs to %gs, want the latest %d", len(events), events[0].AtSeconds, events[len(events)-1].AtSeconds, historyLimit)
	}
	if state.AtSeconds != historyLimit+extra-1 {
		t.Errorf("replayed the state at %gs, want the latest", state.AtSeconds)
	}
}

// A request sent slowly, or never finished, does not hold its connection.
func TestHalfSentRequestsAreCut(t *testing.T) {
	t.Parallel()
	view := New(loadScenario(t, "../../scenarios/manual-pause-waits.yaml"))
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	server := view.HTTPServer(addr)
	if server.ReadHeaderTimeout <= 0 || server.ReadTimeout <= 0 || server.IdleTimeout <= 0 || server.WriteTimeout != 0 {
		t.Fatalf("timeouts: read header %s, read %s, idle %s, write %s; want all but write (the event stream lasts the run)",
			server.ReadHeaderTimeout, server.ReadTimeout, server.IdleTimeout, server.WriteTimeout)
	}
	// The same server, quicker.
	server.ReadHeaderTimeout, server.ReadTimeout = 200*time.Millisecond, 300*time.Millisecond
	go server.Serve(listener)
	t.Cleanup(func() { server.Close() })
	for name, partial := range map[string]string{
		"headers": "GET / HTTP/1.1\r\nHost: " + addr + "\r\n",
		"body":    "POST /actions HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, partial); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadAll(conn); err != nil {
				t.Fatalf("the server still held the connection after 10s: %v", err)
			}
		})
	}
}

// The server's ReadTimeout cuts half-sent requests, not the event stream,
// which lasts the run.
func TestEventStreamOutlastsReadTimeout(t *testing.T) {
	t.Parallel()
	sc := loadScenario(t, "../../scenarios/manual-pause-waits.yaml")
	view := New(sc)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := view.HTTPServer(listener.Addr().String())
	server.ReadHeaderTimeout, server.ReadTimeout = 100*time.Millisecond, 100*time.Millisecond
	go server.Serve(listener)
	t.Cleanup(func() { server.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	request, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+listener.Addr().String()+"/events", nil)
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	// Published well past the read timeout.
	later := time.AfterFunc(5*server.ReadTimeout, func() {
		view.Event(sc.Metadata.Name, result.Event{AtSeconds: 1, Type: result.ActionApplied, Action: string(scenario.ActionPromote)})
	})
	defer later.Stop()
	events := &sseReader{scanner: bufio.NewScanner(response.Body)}
	events.until(t, time.Now().Add(15*time.Second), func(kind string, data []byte) bool {
		return kind == "event" && strings.Contains(string(data), `"ActionApplied"`)
	})
}

// A fault posted during a run whose end would come after the run ended:
// the run ends on its own, the fault never ends, and the view refuses
// actions from then on (go test -race).
func TestLiveFaultOutlastingTheRun(t *testing.T) {
	t.Parallel()
	sc := loadScenario(t, "../../scenarios/crash-looping-canary-rolls-back.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	view := New(sc)
	server := serve(t, view)

	request, _ := http.NewRequestWithContext(ctx, http.MethodGet, server.URL+"/events", nil)
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	events := &sseReader{scanner: bufio.NewScanner(response.Body)}

	done := make(chan *result.Result, 1)
	go func() {
		res, _ := runner.Run(ctx, sim.New(), sc, runner.Options{Seed: 1, Pace: 20, Actions: view.Actions(), State: view.State, Progress: view.Event})
		view.Result(res)
		done <- res
	}()
	events.until(t, time.Now().Add(30*time.Second), func(kind string, data []byte) bool {
		return kind == "event" && strings.Contains(string(data), `"ReleaseStarted"`)
	})
	if code, answer := post(t, server.URL, `{"fault":"metrics-outage","for":"1h"}`); code != http.StatusAccepted {
		t.Fatalf("fault refused: %d %v", code, answer)
	}
	var res *result.Result
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("the run did not end")
	}
	if res == nil || res.Outcome.Result != scenario.OutcomeRolledBack {
		t.Fatalf("the run ended %+v, want rolled back", res)
	}
	var started, ended int
	for _, event := range res.Events {
		if event.Fault == string(scenario.FaultMetricsOutage) {
			switch event.Type {
			case result.FaultStarted:
				started++
			case result.FaultEnded:
				ended++
			}
		}
	}
	if started != 1 || ended != 0 {
		t.Errorf("the live metrics outage started %d and ended %d times, want 1 and 0", started, ended)
	}
	if code, answer := post(t, server.URL, `{"fault":"metrics-outage","for":"1h"}`); code != http.StatusConflict {
		t.Errorf("a fault after the run: %d %v, want 409", code, answer)
	}
	events.until(t, time.Now().Add(10*time.Second), func(kind string, _ []byte) bool { return kind == "result" })
}

// A colour the loader would refuse never reaches the page; the run's own
// map is left as it was.
func TestStateLeavesOutInvalidColours(t *testing.T) {
	t.Parallel()
	sc := loadScenario(t, "../../scenarios/manual-pause-waits.yaml")
	view := New(sc)
	colors := map[string]string{"stable": "blue", "canary": `<img src=x onerror="document.title='pwned'">`}
	view.State(sc.Metadata.Name, runner.State{Colors: colors})
	var published runner.State
	if err := json.Unmarshal(view.history.state.data, &published); err != nil {
		t.Fatal(err)
	}
	if len(published.Colors) != 1 || published.Colors["stable"] != "blue" {
		t.Errorf("published colours %v, want only stable: blue", published.Colors)
	}
	if len(colors) != 2 {
		t.Errorf("the run's colours changed: %v", colors)
	}
}

// The live view checks actions with the scenario's own rules: the bounds
// of a file's events hold for a button, and a controller's missing actions
// are refused and not offered.
func TestActionsFollowTheScenariosOwnRules(t *testing.T) {
	t.Parallel()
	flagger := loadScenario(t, "../../scenarios/flagger-promotion-gate-waits.yaml")
	view := unlimited(New(flagger))
	server := serve(t, view)
	for _, tc := range []struct {
		body, want string
		code       int
	}{
		{`{"action":"retry"}`, "Argo Rollouts operation", http.StatusBadRequest},
		{`{"action":"promote-full"}`, "Argo Rollouts operation", http.StatusBadRequest},
		{`{"fault":"gitops-revert"}`, "Flagger generates its routing objects", http.StatusBadRequest},
		{`{"fault":"metrics-outage","for":"25h"}`, "outside 0s..24h0m0s", http.StatusBadRequest},
		{`{"fault":"latency-injection","delay":"2h"}`, "above 1h0m0s", http.StatusBadRequest},
		{`{"fault":"pod-kill","count":20000}`, "outside 0..10000", http.StatusBadRequest},
		{`{"action":"release"}`, "needs an image", http.StatusBadRequest},
		{`{"action":"promote"}`, "", http.StatusAccepted},
	} {
		code, body := post(t, server.URL, tc.body)
		if code != tc.code || !strings.Contains(body["error"], tc.want) {
			t.Errorf("%s: status %d %q, want %d with %q", tc.body, code, body["error"], tc.code, tc.want)
		}
	}

	text := string(view.history.hello.data)
	for _, want := range []string{`"actions":["promote","abort","release"]`, `"faults":[`} {
		if !strings.Contains(text, want) {
			t.Errorf("the hello does not offer %s:\n%.400s", want, text)
		}
	}
	if strings.Contains(text, `"retry"`) || strings.Contains(text, `"gitops-revert"`) {
		t.Errorf("the hello offers what Flagger does not have:\n%.400s", text)
	}
}
