// Package vclock is the sim's virtual clock and event loop: callbacks run in
// time order (ties in scheduling order), so a run is a pure function of its
// inputs and seed. Nothing here reads the wall clock.
package vclock

import (
	"container/heap"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/canarylab/canarylab/scenario/duration"
)

// MaxCallbacksPerSecond bounds the callbacks the loop runs within one
// second of virtual time. A model that reschedules itself at the same
// instant (or ever closer to it) would otherwise stop virtual time while
// burning CPU and memory; a real run needs a few thousand at most (every
// pod of the largest allowed Rollout starting in the same second).
const MaxCallbacksPerSecond = 200_000

// Loop is a discrete-event loop over virtual time.
type Loop struct {
	now   time.Duration
	seq   uint64
	queue timerQueue

	second    time.Duration // the virtual second being counted
	perSecond int           // callbacks run within it
	err       error         // set once the loop stalled; it then runs nothing
}

// New starts a loop at the given virtual time.
func New(start time.Duration) *Loop { return &Loop{now: start} }

// Now is the current virtual time.
func (l *Loop) Now() time.Duration { return l.now }

// Timer is a scheduled callback.
type Timer struct {
	at      time.Duration
	seq     uint64
	fn      func()
	index   int
	stopped bool
}

// At is when the timer fires.
func (t *Timer) At() time.Duration { return t.at }

// Stop cancels the timer; stopping a fired or stopped timer does nothing.
func (t *Timer) Stop() { t.stopped = true }

// Active is true until the timer fires or is stopped.
func (t *Timer) Active() bool { return !t.stopped && t.index >= 0 }

// At schedules fn at virtual time at (now, if at is in the past).
func (l *Loop) At(at time.Duration, fn func()) *Timer {
	if at < l.now {
		at = l.now
	}
	l.seq++
	timer := &Timer{at: at, seq: l.seq, fn: fn}
	heap.Push(&l.queue, timer)
	return timer
}

// After schedules fn d from now; a time beyond the clock's range is its
// last instant (never a wrap into the past).
func (l *Loop) After(d time.Duration, fn func()) *Timer { return l.At(duration.Add(l.now, d), fn) }

// Next is the time of the next pending callback, and false if there is none.
func (l *Loop) Next() (time.Duration, bool) {
	for len(l.queue) > 0 {
		if l.queue[0].stopped {
			heap.Pop(&l.queue)
			continue
		}
		return l.queue[0].at, true
	}
	return 0, false
}

// Step runs the next callback if it is due at or before limit, and reports
// whether it ran one. It runs nothing once the loop has stalled (Err).
func (l *Loop) Step(limit time.Duration) bool {
	if l.err != nil {
		return false
	}
	at, ok := l.Next()
	if !ok || at > limit {
		return false
	}
	timer := heap.Pop(&l.queue).(*Timer)
	l.now = timer.at
	timer.stopped = true
	if second := timer.at.Truncate(time.Second); second != l.second {
		l.second, l.perSecond = second, 0
	}
	l.perSecond++
	if l.perSecond > MaxCallbacksPerSecond {
		l.err = &StallError{At: timer.at, Callbacks: l.perSecond - 1, Repeating: funcName(timer.fn)}
		return false
	}
	timer.fn()
	return true
}

// Err is non-nil once the loop has stalled: a *StallError naming the
// callback that kept virtual time from moving on.
func (l *Loop) Err() error { return l.err }

// StallError says that virtual time stopped moving: more than
// MaxCallbacksPerSecond callbacks were due within one virtual second.
type StallError struct {
	At        time.Duration
	Callbacks int
	// Repeating is the function of the callback that broke the bound.
	Repeating string
}

func (e *StallError) Error() string {
	return fmt.Sprintf("virtual time stalled at %s: %d callbacks ran within one virtual second (the bound is %d), the last of them %s; "+
		"something reschedules itself without letting time pass, or too much happens at once",
		e.At, e.Callbacks, MaxCallbacksPerSecond, e.Repeating)
}

// funcName names a callback for a StallError, without the module prefix.
func funcName(fn func()) string {
	f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer())
	if f == nil {
		return "an unnamed callback"
	}
	name := f.Name()
	if cut := strings.LastIndex(name, "/"); cut >= 0 {
		name = name[cut+1:]
	}
	return name
}

// RunUntil runs callbacks up to and including limit, stopping early when
// done returns true after a callback; the clock ends at limit unless stopped
// early.
func (l *Loop) RunUntil(limit time.Duration, done func() bool) {
	for l.Step(limit) {
		if done != nil && done() {
			return
		}
	}
	if l.now < limit {
		l.now = limit
	}
}

type timerQueue []*Timer

func (q timerQueue) Len() int { return len(q) }
func (q timerQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q timerQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *timerQueue) Push(x any) {
	timer := x.(*Timer)
	timer.index = len(*q)
	*q = append(*q, timer)
}
func (q *timerQueue) Pop() any {
	old := *q
	timer := old[len(old)-1]
	old[len(old)-1] = nil
	timer.index = -1
	*q = old[:len(old)-1]
	return timer
}
