// Package loadtester emulates the flagger-loadtester (Flagger v1.44.0) in
// process: the manual gates, the rollback gates and the queue of `cmd` tasks
// that Flagger's webhooks post to it. It serves the same paths with the same
// status codes and bodies (docs/measurements.md#flagger-loadtester), and turns
// a hey or wrk command into the load it offers
// (docs/measurements.md#hey-and-wrk-load) for the caller to send.
//
// It does not run commands. A Tester keeps no goroutines and no timers: time
// comes from the caller's clock, and a task is handed to the caller's start
// function synchronously, inside ServeHTTP, with the time it starts. So the
// sim, which calls ServeHTTP from its event loop, stays deterministic, and a
// real run schedules the start on the wall clock.
//
// Where the emulation differs from the real tester:
//   - Blocking task types (bash, helm, helmv3, kubectl, concord) and the
//     queued ngrinder type get 500 with a message that only `cmd` tasks with
//     hey or wrk run here; the real tester runs them (200 or 500 from bash
//     and the others, 202 from ngrinder).
//   - An unknown task type gets 400 "unknown task type <type>". The real
//     tester panics on it and the connection is dropped
//     (FL pkg/loadtester/task.go:55-58, server.go:422-427).
//   - The -namespace-regexp authorizer is not emulated: every namespace is
//     allowed, as with the real default (FL cmd/loadtester/main.go:46).
//   - /metrics answers 200 with no samples.
//   - A `cmd` that is not hey or wrk is accepted (202) and recorded, but not
//     run, and it counts as finished the moment it starts.
package loadtester

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/canarylab/canarylab/controller/flagger"
)

const (
	// TickInterval is how often the real task runner starts queued tasks
	// (FL cmd/loadtester/main.go:68).
	TickInterval = 100 * time.Millisecond
	// CommandTimeout is the loadtester's default -timeout, after which a
	// running command is killed (FL cmd/loadtester/main.go:45,
	// pkg/loadtester/runner.go:73).
	CommandTimeout = time.Hour
)

// Task is one submission of a `cmd` task: started, or, in Skipped, dropped.
type Task struct {
	Canary string // "<name>.<namespace>" from the payload
	Cmd    string // metadata.cmd as posted
	Load   Load   // what the command offers; the zero Load when Err is set
	// Err is nil when Cmd is a hey or wrk command that parsed; it wraps
	// ErrNoLoad for any other command, and is the parse error for a
	// malformed hey or wrk, which the real tester would accept (202) and
	// run, and which would exit at once. Either way the task sends nothing.
	Err error
	// StartAt is the runner tick at which the task starts (or was dropped):
	// the first multiple of TickInterval strictly after the submission, so
	// 0 < StartAt − submission ≤ 100 ms.
	StartAt time.Duration
	// EndAt is when the command exits: StartAt plus Load.RunLength, capped
	// at CommandTimeout. For a run whose length depends on latency
	// (closed-loop hey -n) it is StartAt + CommandTimeout until the caller
	// reports the real end with Ended. For a task with Err, EndAt = StartAt.
	EndAt time.Duration
}

// Tester is the emulated loadtester. It is safe for concurrent use.
type Tester struct {
	clock func() time.Duration
	start func(Task)
	mux   *http.ServeMux

	mu      sync.Mutex
	gates   map[string]bool
	tasks   []Task
	skipped []Task
	// latestRun maps a dedup key to the index in tasks of its latest run.
	latestRun map[string]int
	// declared are the scenario's answers by flagger.TaskKey: pass or not.
	declared map[string]bool
}

// Declare sets the answers the scenario declares (spec.stubs), by
// flagger.TaskKey: such a task is not run; it answers as declared.
func (t *Tester) Declare(answers map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.declared = answers
}

// New returns a Tester with every gate closed and no tasks. clock is the
// caller's time: virtual in the sim, elapsed wall time in a real run. start
// (may be nil) is called once for every task that starts, synchronously from
// ServeHTTP, before the 202 is written and without any Tester lock held,
// with Task.StartAt set; the caller sends the load from StartAt, e.g.
// loop.At(task.StartAt, ...) in the sim or time.AfterFunc(task.StartAt-now,
// ...) in a real run. Tasks with Err set are passed too, so that the caller
// can report them.
func New(clock func() time.Duration, start func(Task)) *Tester {
	t := &Tester{
		clock:     clock,
		start:     start,
		mux:       http.NewServeMux(),
		gates:     map[string]bool{},
		latestRun: map[string]int{},
	}
	// The real tester registers these on http.DefaultServeMux, any method,
	// with "/" taking everything else (FL pkg/loadtester/server.go:35-240);
	// a ServeMux here gives the same matching and path cleaning.
	t.mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, "")
	})
	t.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, "OK") // FL pkg/loadtester/server.go:265-269
	})
	t.mux.HandleFunc("/gate/approve", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, "OK") // FL pkg/loadtester/server.go:38-41
	})
	t.mux.HandleFunc("/gate/halt", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusForbidden, "Forbidden") // FL pkg/loadtester/server.go:42-45
	})
	// FL pkg/loadtester/server.go:46-80, :82-111, :113-142.
	t.mux.HandleFunc("/gate/check", t.handleCheck(gateKey))
	t.mux.HandleFunc("/gate/open", t.handleSet(gateKey, true))
	t.mux.HandleFunc("/gate/close", t.handleSet(gateKey, false))
	// FL pkg/loadtester/server.go:144-178, :179-208, :209-238.
	t.mux.HandleFunc("/rollback/check", t.handleCheck(rollbackKey))
	t.mux.HandleFunc("/rollback/open", t.handleSet(rollbackKey, true))
	t.mux.HandleFunc("/rollback/close", t.handleSet(rollbackKey, false))
	t.mux.HandleFunc("/", t.handleTask) // FL pkg/loadtester/server.go:240
	return t
}

// ServeHTTP answers as the real loadtester does; see the package comment for
// where it differs.
func (t *Tester) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.mux.ServeHTTP(w, r)
}

func gateKey(name, namespace string) string { return name + "." + namespace }

func rollbackKey(name, namespace string) string { return "rollback." + name + "." + namespace }

// OpenGate opens the manual gate of a canary, as POST /gate/open does.
func (t *Tester) OpenGate(name, namespace string) { t.setGate(gateKey(name, namespace), true) }

// CloseGate closes the manual gate of a canary, as POST /gate/close does.
func (t *Tester) CloseGate(name, namespace string) { t.setGate(gateKey(name, namespace), false) }

// GateOpen reports what /gate/check would answer: true for 200 Approved.
func (t *Tester) GateOpen(name, namespace string) bool { return t.isOpen(gateKey(name, namespace)) }

// OpenRollback opens the rollback gate of a canary, as POST /rollback/open
// does; Flagger's rollback hook then succeeds and the canary rolls back.
func (t *Tester) OpenRollback(name, namespace string) {
	t.setGate(rollbackKey(name, namespace), true)
}

// CloseRollback closes the rollback gate, as POST /rollback/close does.
func (t *Tester) CloseRollback(name, namespace string) {
	t.setGate(rollbackKey(name, namespace), false)
}

// RollbackOpen reports what /rollback/check would answer: true for 200.
func (t *Tester) RollbackOpen(name, namespace string) bool {
	return t.isOpen(rollbackKey(name, namespace))
}

func (t *Tester) setGate(key string, open bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gates[key] = open
}

// isOpen reads a gate, storing "closed" for a key never seen: gates default
// to closed and stay as last set, across releases, until the process ends
// (FL pkg/loadtester/gate.go:33-47, cmd/loadtester/main.go:72).
func (t *Tester) isOpen(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	open, seen := t.gates[key]
	if !seen {
		t.gates[key] = false
	}
	return open
}

// Tasks returns the tasks that started, in start order.
func (t *Tester) Tasks() []Task {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Task(nil), t.tasks...)
}

// Skipped returns the submissions that were dropped, in order: the same
// command for the same canary was still running at the tick (the real
// runner's "command skipped … is already running"), or had been queued for
// the same tick (the real to-do map keeps one). Their StartAt and EndAt are
// the tick at which they were dropped.
func (t *Tester) Skipped() []Task {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Task(nil), t.skipped...)
}

// Ended records when a started task's command really exited, for a load
// whose length the Tester could not know (closed-loop hey -n); until then
// it counts as running for deduplication. at is clamped to
// [StartAt, StartAt+CommandTimeout]. It reports whether the task was found.
func (t *Tester) Ended(task Task, at time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.tasks) - 1; i >= 0; i-- {
		run := &t.tasks[i]
		if run.Canary == task.Canary && run.Cmd == task.Cmd && run.StartAt == task.StartAt {
			run.EndAt = min(max(at, run.StartAt), run.StartAt+CommandTimeout)
			return true
		}
	}
	return false
}

// payload is Flagger's webhook body (FL pkg/apis/flagger/v1beta1/canary.go:464-481).
// Metadata is a map of strings, so a number in it fails to decode.
type payload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// readPayload decodes the body, answering 400 with no body when it cannot be
// read or decoded, as every real handler that reads one does
// (FL pkg/loadtester/server.go:47-61, :274-288).
func readPayload(w http.ResponseWriter, r *http.Request) (payload, bool) {
	var p payload
	if r.Body == nil {
		reply(w, http.StatusBadRequest, "")
		return p, false
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, &p)
	}
	if err != nil {
		reply(w, http.StatusBadRequest, "")
		return p, false
	}
	return p, true
}

func reply(w http.ResponseWriter, status int, body string) {
	w.WriteHeader(status)
	if body != "" {
		_, _ = io.WriteString(w, body) // the client has gone; nothing to do
	}
}

func (t *Tester) handleCheck(key func(name, namespace string) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := readPayload(w, r)
		if !ok {
			return
		}
		if t.isOpen(key(p.Name, p.Namespace)) {
			reply(w, http.StatusOK, "Approved")
		} else {
			reply(w, http.StatusForbidden, "Forbidden")
		}
	}
}

func (t *Tester) handleSet(key func(name, namespace string) string, open bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := readPayload(w, r)
		if !ok {
			return
		}
		t.setGate(key(p.Name, p.Namespace), open)
		reply(w, http.StatusAccepted, "")
	}
}

// handleTask is task submission (FL pkg/loadtester/server.go:272-444).
func (t *Tester) handleTask(w http.ResponseWriter, r *http.Request) {
	p, ok := readPayload(w, r)
	if !ok {
		return
	}
	if len(p.Metadata) == 0 {
		reply(w, http.StatusBadRequest, "metadata not found in payload") // :436-439
		return
	}
	taskType, ok := p.Metadata["type"]
	if !ok {
		taskType = "cmd" // :298-301
	}
	t.mu.Lock()
	pass, declared := t.declared[flagger.TaskKey(p.Metadata)]
	t.mu.Unlock()
	switch {
	case declared && pass:
		reply(w, http.StatusOK, "") // a blocking task that succeeded (FL pkg/loadtester/server.go:323-334)
		return
	case declared:
		reply(w, http.StatusInternalServerError, "the scenario declares this task fails (spec.stubs)")
		return
	case taskType == "cmd":
	case flagger.UnrunnableTasks[taskType]:
		reply(w, http.StatusInternalServerError, fmt.Sprintf(
			"canarylab's loadtester emulation runs only cmd tasks with hey or wrk; a %s task cannot run here", taskType))
		return
	default:
		reply(w, http.StatusBadRequest, "unknown task type "+taskType)
		return
	}
	cmd, ok := p.Metadata["cmd"]
	if !ok {
		reply(w, http.StatusBadRequest, "cmd not found in metadata") // FL pkg/loadtester/task_shell.go:31-35
		return
	}
	if task, started := t.submit(p.Name+"."+p.Namespace, cmd); started && t.start != nil {
		t.start(task)
	}
	reply(w, http.StatusAccepted, "") // :442
}

// submit queues a cmd task and decides at once what the real runner decides
// at its next tick (FL pkg/loadtester/runner.go:52-92): the dedup key is the
// canary and the command concatenated (FL pkg/loadtester/task_shell.go:47-49;
// hash() in task.go:45-49 keeps the string whole), and a task whose key is
// still running at that tick, or was queued for the same tick, is dropped.
// A run counts as running from StartAt until EndAt (exclusive).
func (t *Tester) submit(canary, cmd string) (Task, bool) {
	load, err := ParseCommand(cmd)
	length, known := load.RunLength()
	if err != nil {
		length, known = 0, true
	}
	if !known || length > CommandTimeout {
		length = CommandTimeout
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	tick := nextTick(t.clock())
	task := Task{Canary: canary, Cmd: cmd, Load: load, Err: err, StartAt: tick, EndAt: tick + length}
	key := canary + cmd
	if i, ok := t.latestRun[key]; ok {
		if previous := t.tasks[i]; previous.StartAt == tick || previous.EndAt > tick {
			task.EndAt = tick
			t.skipped = append(t.skipped, task)
			return task, false
		}
	}
	t.latestRun[key] = len(t.tasks)
	t.tasks = append(t.tasks, task)
	return task, true
}

// nextTick is the first multiple of TickInterval strictly after now. The
// real runner's ticker starts with the process, so its phase against
// Flagger's ticks is arbitrary; canarylab puts it at clock zero.
func nextTick(now time.Duration) time.Duration {
	ticks := now / TickInterval
	if now%TickInterval < 0 {
		ticks-- // floor, not truncation, before zero
	}
	return (ticks + 1) * TickInterval
}

var _ http.Handler = (*Tester)(nil)
