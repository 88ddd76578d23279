package loadtester

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is the caller's time, set by the test.
type fakeClock struct{ now time.Duration }

func (c *fakeClock) read() time.Duration { return c.now }

// post sends body to path through ServeHTTP and returns the status and body.
func post(t *testing.T, h http.Handler, path, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

func hook(name, namespace, metadata string) string {
	body := `{"name":"` + name + `","namespace":"` + namespace + `","phase":"Progressing","checksum":"abc"`
	if metadata != "" {
		body += `,"metadata":` + metadata
	}
	return body + "}"
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	podinfo := hook("podinfo", "test", "")
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		wantCode int
		wantBody string // exact, or a required piece when wantPiece
		piece    bool
	}{
		{"healthz", http.MethodGet, "/healthz", "", 200, "OK", false},
		{"metrics", http.MethodGet, "/metrics", "", 200, "", false},
		{"approve needs no body", http.MethodPost, "/gate/approve", "", 200, "OK", false},
		{"approve ignores a bad body", http.MethodPost, "/gate/approve", "{", 200, "OK", false},
		{"halt", http.MethodPost, "/gate/halt", podinfo, 403, "Forbidden", false},
		{"gate check, closed by default", http.MethodPost, "/gate/check", podinfo, 403, "Forbidden", false},
		{"gate check with GET", http.MethodGet, "/gate/check", podinfo, 403, "Forbidden", false},
		{"gate check, bad JSON", http.MethodPost, "/gate/check", "{", 400, "", false},
		{"gate check, empty body", http.MethodPost, "/gate/check", "", 400, "", false},
		{"gate open", http.MethodPost, "/gate/open", podinfo, 202, "", false},
		{"gate open, bad JSON", http.MethodPost, "/gate/open", "not json", 400, "", false},
		{"gate close", http.MethodPost, "/gate/close", podinfo, 202, "", false},
		{"gate close, bad JSON", http.MethodPost, "/gate/close", "[", 400, "", false},
		{"rollback check, closed by default", http.MethodPost, "/rollback/check", podinfo, 403, "Forbidden", false},
		{"rollback check, bad JSON", http.MethodPost, "/rollback/check", "{", 400, "", false},
		{"rollback open", http.MethodPost, "/rollback/open", podinfo, 202, "", false},
		{"rollback open, bad JSON", http.MethodPost, "/rollback/open", "{", 400, "", false},
		{"rollback close", http.MethodPost, "/rollback/close", podinfo, 202, "", false},
		{"task, bad JSON", http.MethodPost, "/", "{", 400, "", false},
		{"task, metadata not a string map", http.MethodPost, "/", hook("podinfo", "test", `{"cmd":1}`), 400, "", false},
		{"task, no metadata", http.MethodPost, "/", podinfo, 400, "metadata not found in payload", false},
		{"task, empty metadata", http.MethodPost, "/", hook("podinfo", "test", `{}`), 400, "metadata not found in payload", false},
		{"task, type cmd without cmd", http.MethodPost, "/", hook("podinfo", "test", `{"type":"cmd"}`), 400, "cmd not found in metadata", false},
		{"task, default type without cmd", http.MethodPost, "/", hook("podinfo", "test", `{"logCmdOutput":"true"}`), 400, "cmd not found in metadata", false},
		{"task, hey accepted", http.MethodPost, "/", hook("podinfo", "test", `{"cmd":"hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}`), 202, "", false},
		{"task, explicit type cmd", http.MethodPost, "/", hook("podinfo", "test", `{"type":"cmd","cmd":"wrk -t2 -c10 -d30s http://podinfo.test:9898/"}`), 202, "", false},
		{"task, curl accepted with no load", http.MethodPost, "/", hook("podinfo", "test", `{"cmd":"curl -s http://podinfo.test:9898/"}`), 202, "", false},
		{"task, malformed hey still accepted", http.MethodPost, "/", hook("podinfo", "test", `{"cmd":"hey -c x http://podinfo.test/"}`), 202, "", false},
		{"task, empty cmd accepted", http.MethodPost, "/", hook("podinfo", "test", `{"cmd":""}`), 202, "", false},
		{"task on any other path", http.MethodPost, "/run/load", hook("podinfo", "test", `{"cmd":"hey -z 1m http://podinfo.test/"}`), 202, "", false},
		{"a trailing slash is not the gate", http.MethodPost, "/gate/check/", podinfo, 400, "metadata not found in payload", false},
		{"task, bash", http.MethodPost, "/", hook("podinfo", "test", `{"type":"bash","cmd":"exit 0"}`), 500, "only cmd tasks with hey or wrk; a bash task", true},
		{"task, helm", http.MethodPost, "/", hook("podinfo", "test", `{"type":"helm","cmd":"test podinfo"}`), 500, "only cmd tasks with hey or wrk; a helm task", true},
		{"task, helmv3", http.MethodPost, "/", hook("podinfo", "test", `{"type":"helmv3","cmd":"test podinfo"}`), 500, "only cmd tasks with hey or wrk; a helmv3 task", true},
		{"task, kubectl", http.MethodPost, "/", hook("podinfo", "test", `{"type":"kubectl","cmd":"get pods"}`), 500, "only cmd tasks with hey or wrk; a kubectl task", true},
		{"task, concord", http.MethodPost, "/", hook("podinfo", "test", `{"type":"concord","server":"http://concord"}`), 500, "only cmd tasks with hey or wrk; a concord task", true},
		{"task, ngrinder", http.MethodPost, "/", hook("podinfo", "test", `{"type":"ngrinder","server":"http://ngrinder"}`), 500, "only cmd tasks with hey or wrk; a ngrinder task", true},
		{"task, unknown type", http.MethodPost, "/", hook("podinfo", "test", `{"type":"bogus","cmd":"hey http://podinfo.test/"}`), 400, "unknown task type bogus", false},
		{"task, empty type is unknown", http.MethodPost, "/", hook("podinfo", "test", `{"type":"","cmd":"hey http://podinfo.test/"}`), 400, "unknown task type ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tester := New(func() time.Duration { return 0 }, nil)
			rec := httptest.NewRecorder()
			tester.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
			got := rec.Body.String()
			if rec.Code != tt.wantCode {
				t.Errorf("%s %s: status %d, want %d (body %q)", tt.method, tt.path, rec.Code, tt.wantCode, got)
			}
			if tt.piece && !strings.Contains(got, tt.wantBody) || !tt.piece && got != tt.wantBody {
				t.Errorf("%s %s: body %q, want %q", tt.method, tt.path, got, tt.wantBody)
			}
		})
	}
}

func TestGateSequences(t *testing.T) {
	t.Parallel()
	// Each step is an HTTP call (path) or a direct call (direct), then what
	// the two checks of podinfo.test answer.
	type step struct {
		path      string                        // posted with the payload of name.namespace
		direct    func(*Tester, string, string) // or called with name, namespace
		name, ns  string
		wantCode  int // of the posted path, when path is set
		wantGate  bool
		wantRollb bool
	}
	open := (*Tester).OpenGate
	closeGate := (*Tester).CloseGate
	openRollback := (*Tester).OpenRollback
	closeRollback := (*Tester).CloseRollback
	tests := []struct {
		name  string
		steps []step
	}{
		{"both default to closed", []step{
			{path: "/gate/check", name: "podinfo", ns: "test", wantCode: 403},
			{path: "/rollback/check", name: "podinfo", ns: "test", wantCode: 403},
		}},
		{"open stays open until closed", []step{
			{path: "/gate/open", name: "podinfo", ns: "test", wantCode: 202, wantGate: true},
			{path: "/gate/check", name: "podinfo", ns: "test", wantCode: 200, wantGate: true},
			{path: "/gate/check", name: "podinfo", ns: "test", wantCode: 200, wantGate: true},
			{path: "/gate/open", name: "podinfo", ns: "test", wantCode: 202, wantGate: true},
			{path: "/gate/close", name: "podinfo", ns: "test", wantCode: 202},
			{path: "/gate/check", name: "podinfo", ns: "test", wantCode: 403},
			{path: "/gate/close", name: "podinfo", ns: "test", wantCode: 202},
			{path: "/gate/check", name: "podinfo", ns: "test", wantCode: 403},
		}},
		{"gates are per name and namespace", []step{
			{path: "/gate/open", name: "podinfo", ns: "prod", wantCode: 202},
			{path: "/gate/open", name: "frontend", ns: "test", wantCode: 202},
			{path: "/gate/check", name: "podinfo", ns: "test", wantCode: 403},
			{path: "/gate/check", name: "podinfo", ns: "prod", wantCode: 200},
		}},
		{"the gate and the rollback gate are separate", []step{
			{path: "/gate/open", name: "podinfo", ns: "test", wantCode: 202, wantGate: true},
			{path: "/rollback/check", name: "podinfo", ns: "test", wantCode: 403, wantGate: true},
			{path: "/rollback/open", name: "podinfo", ns: "test", wantCode: 202, wantGate: true, wantRollb: true},
			{path: "/gate/close", name: "podinfo", ns: "test", wantCode: 202, wantRollb: true},
			{path: "/rollback/check", name: "podinfo", ns: "test", wantCode: 200, wantRollb: true},
			{path: "/gate/check", name: "podinfo", ns: "test", wantCode: 403, wantRollb: true},
			{path: "/rollback/close", name: "podinfo", ns: "test", wantCode: 202},
			{path: "/rollback/check", name: "podinfo", ns: "test", wantCode: 403},
		}},
		{"direct calls and HTTP see the same gates", []step{
			{direct: open, name: "podinfo", ns: "test", wantGate: true},
			{path: "/gate/check", name: "podinfo", ns: "test", wantCode: 200, wantGate: true},
			{direct: openRollback, name: "podinfo", ns: "test", wantGate: true, wantRollb: true},
			{path: "/rollback/check", name: "podinfo", ns: "test", wantCode: 200, wantGate: true, wantRollb: true},
			{direct: closeGate, name: "podinfo", ns: "test", wantRollb: true},
			{path: "/gate/check", name: "podinfo", ns: "test", wantCode: 403, wantRollb: true},
			{direct: closeRollback, name: "podinfo", ns: "test"},
			{path: "/rollback/open", name: "podinfo", ns: "test", wantCode: 202, wantRollb: true},
		}},
		{"approve and halt ignore the gate", []step{
			{path: "/gate/approve", name: "podinfo", ns: "test", wantCode: 200},
			{direct: open, name: "podinfo", ns: "test", wantGate: true},
			{path: "/gate/halt", name: "podinfo", ns: "test", wantCode: 403, wantGate: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tester := New(func() time.Duration { return 0 }, nil)
			for i, s := range tt.steps {
				if s.path != "" {
					code, body := post(t, tester, s.path, hook(s.name, s.ns, ""))
					if code != s.wantCode {
						t.Fatalf("step %d: %s for %s.%s = %d %q, want %d", i, s.path, s.name, s.ns, code, body, s.wantCode)
					}
					if strings.HasSuffix(s.path, "/check") {
						wantBody := map[int]string{200: "Approved", 403: "Forbidden"}[code]
						if body != wantBody {
							t.Fatalf("step %d: %s body %q, want %q", i, s.path, body, wantBody)
						}
					}
				} else {
					s.direct(tester, s.name, s.ns)
				}
				if got := tester.GateOpen("podinfo", "test"); got != s.wantGate {
					t.Fatalf("step %d: GateOpen(podinfo, test) = %v, want %v", i, got, s.wantGate)
				}
				if got := tester.RollbackOpen("podinfo", "test"); got != s.wantRollb {
					t.Fatalf("step %d: RollbackOpen(podinfo, test) = %v, want %v", i, got, s.wantRollb)
				}
			}
		})
	}
}

func TestStartQuantisation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		now, want time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{99 * time.Millisecond, 100 * time.Millisecond},
		{100 * time.Millisecond, 200 * time.Millisecond},
		{1234 * time.Millisecond, 1300 * time.Millisecond},
		{time.Minute, time.Minute + 100*time.Millisecond},
		{-150 * time.Millisecond, -100 * time.Millisecond},
		{-100 * time.Millisecond, 0},
		{-1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.now.String(), func(t *testing.T) {
			t.Parallel()
			var started []Task
			tester := New(func() time.Duration { return tt.now }, func(task Task) { started = append(started, task) })
			code, _ := post(t, tester, "/", hook("podinfo", "test", `{"cmd":"hey -z 1m -q 10 -c 2 http://podinfo.test:9898/"}`))
			if code != http.StatusAccepted {
				t.Fatalf("status %d, want 202", code)
			}
			if len(started) != 1 {
				t.Fatalf("start called %d times, want once, synchronously", len(started))
			}
			if started[0].StartAt != tt.want || started[0].EndAt != tt.want+time.Minute {
				t.Errorf("submitted at %v: runs %v to %v, want %v to %v",
					tt.now, started[0].StartAt, started[0].EndAt, tt.want, tt.want+time.Minute)
			}
		})
	}
}

func TestDedup(t *testing.T) {
	t.Parallel()
	const (
		load     = "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"
		burst    = "hey -z 10s -q 10 -c 2 http://podinfo-canary.test:9898/"
		curl     = "curl -s http://podinfo.test:9898/"
		badHey   = "hey -c x http://podinfo.test/"
		tooLong  = "hey -z 2h -c 1 http://podinfo.test/"
		countRun = "hey -n 100 -c 10 http://podinfo.test/"
	)
	ms := time.Millisecond
	// Each submission: when, canary, command; then whether it starts, and
	// the run it gets (or the tick at which it is dropped).
	type submission struct {
		at          time.Duration
		name        string
		cmd         string
		wantStarted bool
		wantStart   time.Duration
		wantEnd     time.Duration
	}
	tests := []struct {
		name  string
		steps []submission
		// ended, when set, reports the real end of the started task with
		// index endedTask, before the step with index endedBefore.
		endedTask, endedBefore int
		endedAt                time.Duration
	}{
		{name: "re-submitted while running, as Flagger does every interval", steps: []submission{
			{0, "podinfo", load, true, 100 * ms, 60100 * ms},
			{30 * time.Second, "podinfo", load, false, 30100 * ms, 30100 * ms},
			{59900 * ms, "podinfo", load, false, 60000 * ms, 60000 * ms},
			{60000 * ms, "podinfo", load, true, 60100 * ms, 120100 * ms}, // ended exactly at the tick
			{90 * time.Second, "podinfo", load, false, 90100 * ms, 90100 * ms},
		}},
		{name: "a short burst each interval: never running when re-submitted", steps: []submission{
			{0, "podinfo", burst, true, 100 * ms, 10100 * ms},
			{time.Minute, "podinfo", burst, true, 60100 * ms, 70100 * ms},
			{2 * time.Minute, "podinfo", burst, true, 120100 * ms, 130100 * ms},
		}},
		{name: "the key is canary and command", steps: []submission{
			{0, "podinfo", load, true, 100 * ms, 60100 * ms},
			{10 * time.Second, "frontend", load, true, 10100 * ms, 70100 * ms},
			{10 * time.Second, "podinfo", burst, true, 10100 * ms, 20100 * ms},
			{20 * time.Second, "podinfo", load, false, 20100 * ms, 20100 * ms},
			{20 * time.Second, "frontend", load, false, 20100 * ms, 20100 * ms},
		}},
		{name: "same command queued twice in one tick collapses", steps: []submission{
			{120010 * ms, "podinfo", curl, true, 120100 * ms, 120100 * ms},
			{120050 * ms, "podinfo", curl, false, 120100 * ms, 120100 * ms},
			{120100 * ms, "podinfo", curl, true, 120200 * ms, 120200 * ms},
		}},
		{name: "a malformed hey ends at once", steps: []submission{
			{0, "podinfo", badHey, true, 100 * ms, 100 * ms},
			{ms, "podinfo", badHey, false, 100 * ms, 100 * ms},
			{200 * ms, "podinfo", badHey, true, 300 * ms, 300 * ms},
		}},
		{name: "the one-hour timeout kills a longer load", steps: []submission{
			{0, "podinfo", tooLong, true, 100 * ms, time.Hour + 100*ms},
			{time.Hour - 100*ms, "podinfo", tooLong, false, time.Hour, time.Hour},
			{time.Hour, "podinfo", tooLong, true, time.Hour + 100*ms, 2*time.Hour + 100*ms},
		}},
		{name: "a closed-loop hey -n runs until the caller says it ended",
			endedTask: 0, endedBefore: 2, endedAt: 2500 * ms,
			steps: []submission{
				{0, "podinfo", countRun, true, 100 * ms, time.Hour + 100*ms},
				{10 * time.Second, "podinfo", countRun, false, 10100 * ms, 10100 * ms},
				{10 * time.Second, "podinfo", countRun, true, 10100 * ms, time.Hour + 10100*ms},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{}
			var started []Task
			tester := New(clock.read, func(task Task) { started = append(started, task) })
			var wantStarted, wantSkipped int
			for i, s := range tt.steps {
				if tt.endedAt > 0 && i == tt.endedBefore {
					task := tester.Tasks()[tt.endedTask]
					if !tester.Ended(task, tt.endedAt) {
						t.Fatalf("Ended(%+v) did not find the task", task)
					}
					if got := tester.Tasks()[tt.endedTask].EndAt; got != tt.endedAt {
						t.Fatalf("after Ended: EndAt %v, want %v", got, tt.endedAt)
					}
				}
				clock.now = s.at
				code, body := post(t, tester, "/", hook(s.name, "test", `{"cmd":"`+s.cmd+`"}`))
				if code != http.StatusAccepted || body != "" {
					t.Fatalf("step %d: %d %q, want 202 and no body, started or not", i, code, body)
				}
				var got Task
				if s.wantStarted {
					wantStarted++
					if len(started) != wantStarted {
						t.Fatalf("step %d at %v: %d tasks started, want %d", i, s.at, len(started), wantStarted)
					}
					got = started[len(started)-1]
				} else {
					wantSkipped++
					skipped := tester.Skipped()
					if len(skipped) != wantSkipped || len(started) != wantStarted {
						t.Fatalf("step %d at %v: %d skipped and %d started, want %d and %d",
							i, s.at, len(skipped), len(started), wantSkipped, wantStarted)
					}
					got = skipped[len(skipped)-1]
				}
				if got.Canary != s.name+".test" || got.Cmd != s.cmd || got.StartAt != s.wantStart || got.EndAt != s.wantEnd {
					t.Errorf("step %d at %v: %+v, want %s.test %q from %v to %v",
						i, s.at, got, s.name, s.cmd, s.wantStart, s.wantEnd)
				}
			}
			tasks := tester.Tasks()
			if len(tasks) != len(started) {
				t.Fatalf("Tasks() has %d, start was called %d times", len(tasks), len(started))
			}
			for i := range tasks {
				if tasks[i].Cmd != started[i].Cmd || tasks[i].StartAt != started[i].StartAt {
					t.Errorf("Tasks()[%d] = %+v, start got %+v", i, tasks[i], started[i])
				}
			}
		})
	}
}

func TestTaskLoadAndErr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cmd        string
		wantNoLoad bool
		wantErr    bool
		wantRPS    float64
	}{
		{cmd: "hey -z 1m -q 10 -c 2 http://frontend-canary.podinfo:9898/", wantRPS: 20},
		{cmd: "curl -s http://podinfo.test:9898/", wantNoLoad: true, wantErr: true},
		{cmd: "", wantNoLoad: true, wantErr: true},
		{cmd: "hey -z 1m http://podinfo.test/ | tee out", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			t.Parallel()
			var started []Task
			tester := New(func() time.Duration { return 0 }, func(task Task) { started = append(started, task) })
			if code, _ := post(t, tester, "/", hook("podinfo", "test", `{"cmd":"`+tt.cmd+`"}`)); code != http.StatusAccepted {
				t.Fatalf("status %d, want 202", code)
			}
			if len(started) != 1 {
				t.Fatalf("start called %d times, want 1", len(started))
			}
			task := started[0]
			if (task.Err != nil) != tt.wantErr || errors.Is(task.Err, ErrNoLoad) != tt.wantNoLoad {
				t.Errorf("Err = %v; want an error %v, ErrNoLoad %v", task.Err, tt.wantErr, tt.wantNoLoad)
			}
			if task.Load.RPS != tt.wantRPS {
				t.Errorf("Load.RPS = %v, want %v", task.Load.RPS, tt.wantRPS)
			}
			if tt.wantErr && task.EndAt != task.StartAt {
				t.Errorf("a task with no load runs %v to %v, want no time", task.StartAt, task.EndAt)
			}
		})
	}
}

func TestEndedUnknownTask(t *testing.T) {
	t.Parallel()
	tester := New(func() time.Duration { return 0 }, nil)
	if tester.Ended(Task{Canary: "podinfo.test", Cmd: "hey http://podinfo.test/"}, time.Second) {
		t.Fatal("Ended found a task that was never submitted")
	}
	post(t, tester, "/", hook("podinfo", "test", `{"cmd":"hey http://podinfo.test/"}`))
	task := tester.Tasks()[0]
	tester.Ended(task, -time.Second) // before its start: clamped
	if got := tester.Tasks()[0].EndAt; got != task.StartAt {
		t.Errorf("Ended before the start: EndAt %v, want StartAt %v", got, task.StartAt)
	}
	tester.Ended(task, 3*time.Hour) // after the timeout: clamped
	if got := tester.Tasks()[0].EndAt; got != task.StartAt+CommandTimeout {
		t.Errorf("Ended after the timeout: EndAt %v, want %v", got, task.StartAt+CommandTimeout)
	}
}

// TestOverLoopback drives the handler as Flagger does in a real run: HTTP on
// 127.0.0.1, concurrent callers, a wall clock.
func TestOverLoopback(t *testing.T) {
	t.Parallel()
	origin := time.Now()
	var mu sync.Mutex
	var started []Task
	tester := New(func() time.Duration { return time.Since(origin) }, func(task Task) {
		mu.Lock()
		defer mu.Unlock()
		started = append(started, task)
	})
	server := httptest.NewServer(tester)
	defer server.Close()
	if !strings.HasPrefix(server.URL, "http://127.0.0.1:") {
		t.Fatalf("server at %s, want 127.0.0.1", server.URL)
	}

	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, server.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := server.Client().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: reading the body: %v", method, path, err)
		}
		return resp.StatusCode, string(data)
	}

	podinfo := hook("podinfo", "test", "")
	steps := []struct {
		method, path, body string
		wantCode           int
		wantBody           string
	}{
		{http.MethodGet, "/healthz", "", 200, "OK"},
		{http.MethodPost, "/gate/check", podinfo, 403, "Forbidden"},
		{http.MethodPost, "/gate/open", podinfo, 202, ""},
		{http.MethodPost, "/gate/check", podinfo, 200, "Approved"},
		{http.MethodPost, "/rollback/check", podinfo, 403, "Forbidden"},
		{http.MethodPost, "/rollback/open", podinfo, 202, ""},
		{http.MethodPost, "/rollback/check", podinfo, 200, "Approved"},
		{http.MethodPost, "/", podinfo, 400, "metadata not found in payload"},
		{http.MethodPost, "/", hook("podinfo", "test", `{"type":"kubectl","cmd":"get pods"}`), 500,
			"canarylab's loadtester emulation runs only cmd tasks with hey or wrk; a kubectl task cannot run here"},
	}
	for _, s := range steps {
		code, body := call(s.method, s.path, s.body)
		if code != s.wantCode || body != s.wantBody {
			t.Errorf("%s %s: %d %q, want %d %q", s.method, s.path, code, body, s.wantCode, s.wantBody)
		}
	}

	// Flagger's rollout hooks for two canaries, at once: both start.
	var wg sync.WaitGroup
	for _, name := range []string{"podinfo", "frontend"} {
		wg.Go(func() {
			before := time.Since(origin)
			code, body := call(http.MethodPost, "/", hook(name, "test", `{"cmd":"hey -z 1m -q 10 -c 2 http://podinfo.test:9898/"}`))
			if code != http.StatusAccepted || body != "" {
				t.Errorf("%s: %d %q, want 202", name, code, body)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, task := range started {
				if task.Canary == name+".test" && (task.StartAt <= before || task.StartAt%TickInterval != 0) {
					t.Errorf("%s submitted at %v starts at %v, want the next 100 ms tick", name, before, task.StartAt)
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(started) != 2 {
		t.Fatalf("started %d tasks, want 2: %+v", len(started), started)
	}
}
