package scenario

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/canarylab/canarylab/scenario/duration"
)

func dur(d time.Duration) duration.Duration { return duration.Duration{Duration: d} }

func TestSchedule(t *testing.T) {
	t.Parallel()
	rate := 0.2
	events := []Event{
		{At: dur(30 * time.Second), Action: ActionPromote},
		{At: dur(10 * time.Second), Fault: FaultErrorInjection, Rate: &rate, For: dur(20 * time.Second)},
		{At: dur(5 * time.Second), Fault: FaultGitopsRevert, Every: dur(10 * time.Second), For: dur(25 * time.Second)},
		{At: dur(50 * time.Second), Fault: FaultMetricsOutage, For: dur(time.Minute)}, // ends past the limit
	}
	queue, last := Schedule(events, 90*time.Second)
	var got []string
	for _, entry := range queue {
		got = append(got, fmt.Sprintf("%s %d/%d", entry.At, entry.What, entry.Index))
	}
	want := []string{
		"5s 1/2",  // gitops-revert starts (its first apply)
		"10s 1/1", // error-injection starts
		"15s 3/2", // gitops re-apply every 10s while it lasts (until 30s)
		"25s 3/2",
		"30s 0/0", // promote; among equal times, in the order of the file
		"30s 2/1", // error-injection ends after 20s
		"30s 2/2", // gitops-revert ends
		"50s 1/3",
		"1m50s 2/3", // past the limit: never runs
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("schedule:\n got %v\nwant %v", got, want)
	}
	if last != 50*time.Second {
		t.Errorf("last = %s, want 50s (the outage's end is past the limit)", last)
	}

	// A gitops-revert without `for` re-applies until the limit.
	queue, last = Schedule([]Event{{At: dur(0), Fault: FaultGitopsRevert, Every: dur(30 * time.Second)}}, 90*time.Second)
	if len(queue) != 3 || queue[2].At != time.Minute || last != 0 {
		t.Errorf("open-ended revert: %+v, last %s; want starts at 0s and re-applies at 30s and 1m", queue, last)
	}
}
