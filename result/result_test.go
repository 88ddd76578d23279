package result

import (
	"bytes"
	"testing"
	"time"
)

// Text counts steps from 1 for people; Describe and the JSON keep the
// controller's 0-based index.
func TestTextCountsStepsFromOne(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		event          Event
		describe, text string
	}{
		{Event{Type: StepStarted, Step: IntPtr(0), Message: "setWeight: 20"}, "step=0 setWeight: 20", "step 1 setWeight: 20"},
		{Event{Type: PauseEnded, Step: IntPtr(3)}, "step=3", "step 4"},
		{Event{Type: WeightChanged, CanaryWeight: IntPtr(20), Step: IntPtr(1), Phase: "Paused"}, "canaryWeight=20 step=1 phase=Paused", "canaryWeight=20 step 2 phase=Paused"},
		{Event{Type: WeightChanged, CanaryWeight: IntPtr(20)}, "canaryWeight=20", "canaryWeight=20"},
		{Event{Type: CanaryScaledDown}, "", ""},
	} {
		if got := tc.event.Describe(); got != tc.describe {
			t.Errorf("Describe %q, want %q", got, tc.describe)
		}
		if got := tc.event.Text(); got != tc.text {
			t.Errorf("Text %q, want %q", got, tc.text)
		}
	}
}

// The wall time is beside the result, never in its JSON: the same seed
// gives the same JSON on any machine.
func TestWallIsNotInTheJSON(t *testing.T) {
	t.Parallel()
	res := &Result{Scenario: "s", Backend: "sim", Seed: 1, Events: []Event{{Type: StepStarted, Step: IntPtr(0)}}}
	untimed, err := res.JSON()
	if err != nil {
		t.Fatal(err)
	}
	res.Wall = 1234 * time.Millisecond
	timed, err := res.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(timed, untimed) {
		t.Errorf("the JSON changes with Wall:\n%s\nwant\n%s", timed, untimed)
	}
	if !bytes.Contains(timed, []byte(`"step": 0`)) {
		t.Errorf("the JSON's step is no longer the 0-based index:\n%s", timed)
	}
}
