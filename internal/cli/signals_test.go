package cli

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFirstSignalCancelsSecondExitsAtOnce(t *testing.T) {
	t.Parallel()
	signals := make(chan os.Signal, 2)
	cancelled, exited := make(chan struct{}), make(chan struct{})
	var stderr bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		handleSignals(signals, &stderr, func() { close(cancelled) }, func() { close(exited) })
	}()

	signals <- os.Interrupt
	waitClosed(t, cancelled, "the first Ctrl-C did not cancel the run")
	select {
	case <-exited:
		t.Fatal("the first Ctrl-C exited at once")
	default:
	}
	signals <- syscall.SIGTERM
	waitClosed(t, exited, "the second signal did not exit")
	waitClosed(t, done, "the handler did not return")
	if !strings.Contains(stderr.String(), "once more to exit at once") || !strings.Contains(stderr.String(), "cluster down") {
		t.Errorf("stderr does not say what the signals do:\n%s", stderr.String())
	}
}

func TestSignalHandlerEndsWhenTheChannelCloses(t *testing.T) {
	t.Parallel()
	signals := make(chan os.Signal)
	done := make(chan struct{})
	go func() {
		defer close(done)
		handleSignals(signals, &bytes.Buffer{}, func() { t.Error("cancelled without a signal") }, func() { t.Error("exited without a signal") })
	}()
	close(signals)
	waitClosed(t, done, "the handler did not return")
}

// waitClosed waits for ch to close, failing after a deadline.
func waitClosed(t *testing.T, ch <-chan struct{}, message string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal(message)
	}
}
