package vclock

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLoopRunsInTimeThenSchedulingOrder(t *testing.T) {
	t.Parallel()
	loop := New(-time.Second)
	var order []string
	loop.At(2*time.Second, func() { order = append(order, "b") })
	loop.At(time.Second, func() {
		order = append(order, "a")
		loop.After(time.Second, func() { order = append(order, "c") }) // same time as b, scheduled later
	})
	stopped := loop.At(1500*time.Millisecond, func() { order = append(order, "never") })
	stopped.Stop()
	loop.At(10*time.Second, func() { order = append(order, "late") })
	loop.RunUntil(5*time.Second, nil)

	want := []string{"a", "b", "c"}
	if len(order) != len(want) {
		t.Fatalf("ran %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("ran %v, want %v", order, want)
		}
	}
	if loop.Now() != 5*time.Second {
		t.Fatalf("clock at %v after RunUntil(5s)", loop.Now())
	}
	if next, ok := loop.Next(); !ok || next != 10*time.Second {
		t.Fatalf("next = %v %v, want 10s", next, ok)
	}
}

func TestLoopStopsEarlyWhenDone(t *testing.T) {
	t.Parallel()
	loop := New(0)
	count := 0
	for i := 1; i <= 5; i++ {
		loop.At(time.Duration(i)*time.Second, func() { count++ })
	}
	loop.RunUntil(time.Minute, func() bool { return count == 3 })
	if count != 3 || loop.Now() != 3*time.Second {
		t.Fatalf("count %d at %v, want 3 at 3s", count, loop.Now())
	}
}

func TestPastTimesRunNow(t *testing.T) {
	t.Parallel()
	loop := New(10 * time.Second)
	var at time.Duration
	loop.At(time.Second, func() { at = loop.Now() })
	loop.RunUntil(20*time.Second, nil)
	if at != 10*time.Second {
		t.Fatalf("past timer ran at %v, want 10s", at)
	}
}

func TestLoopStopsWhenACallbackKeepsTimeFromMoving(t *testing.T) {
	t.Parallel()
	loop := New(0)
	var again func()
	runs := 0
	again = func() {
		runs++
		loop.After(time.Nanosecond, again) // ever closer: time barely moves
	}
	loop.At(time.Second, again)
	loop.RunUntil(time.Hour, nil)

	var stall *StallError
	if err := loop.Err(); !errors.As(err, &stall) {
		t.Fatalf("Err() = %v, want a *StallError", err)
	}
	if runs != MaxCallbacksPerSecond {
		t.Errorf("ran the callback %d times, want the bound %d", runs, MaxCallbacksPerSecond)
	}
	if stall.At >= 2*time.Second {
		t.Errorf("stalled at %s, want within the second it started", stall.At)
	}
	if !strings.Contains(stall.Error(), "vclock.TestLoopStopsWhenACallbackKeepsTimeFromMoving") {
		t.Errorf("message does not name the repeating callback: %s", stall.Error())
	}
	if loop.Step(time.Hour) {
		t.Error("a stalled loop ran another callback")
	}
}

func TestLoopRunsBusySecondsThatStayUnderTheBound(t *testing.T) {
	t.Parallel()
	loop := New(0)
	runs := 0
	for second := range 3 {
		for range MaxCallbacksPerSecond {
			loop.At(time.Duration(second)*time.Second, func() { runs++ })
		}
	}
	loop.RunUntil(time.Hour, nil)
	if err := loop.Err(); err != nil {
		t.Fatal(err)
	}
	if runs != 3*MaxCallbacksPerSecond {
		t.Errorf("ran %d callbacks, want %d", runs, 3*MaxCallbacksPerSecond)
	}
}
