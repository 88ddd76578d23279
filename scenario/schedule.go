package scenario

import (
	"sort"
	"time"

	"github.com/canarylab/canarylab/scenario/duration"
)

// Timed is one entry of the run's schedule: an action, the start or end
// of a fault, or a GitOps agent's re-apply.
type Timed struct {
	At time.Duration
	// Event is the scenario event, Index its position in spec.events.
	Event Event
	Index int
	What  TimedKind
}

// TimedKind says what a Timed entry does.
type TimedKind int

// What a Timed entry does.
const (
	TimedAction TimedKind = iota
	TimedFaultStart
	TimedFaultEnd
	TimedRevert
)

// Schedule orders the scenario's events on the run's timeline: actions and
// fault starts at their time, fault ends after their duration (also past
// the limit, where they never run), and the re-applies of gitops-revert
// every `every` while it lasts. last is the time of the last entry that
// happens within the limit and must happen before the run may end early.
func Schedule(events []Event, limit time.Duration) (queue []Timed, last time.Duration) {
	for i, event := range events {
		at := event.At.Duration
		last = max(last, at)
		if event.Action != "" {
			queue = append(queue, Timed{at, event, i, TimedAction})
			continue
		}
		queue = append(queue, Timed{at, event, i, TimedFaultStart})
		if event.For.Duration > 0 {
			end := duration.Add(at, event.For.Duration)
			if end <= limit {
				last = max(last, end)
			}
			queue = append(queue, Timed{end, event, i, TimedFaultEnd})
		}
		if event.Fault == FaultGitopsRevert {
			end := limit
			if event.For.Duration > 0 {
				end = min(limit, duration.Add(at, event.For.Duration))
			}
			for next := at + event.Every.Duration; next < end && event.Every.Duration > 0; next += event.Every.Duration {
				queue = append(queue, Timed{next, event, i, TimedRevert})
			}
		}
	}
	sort.SliceStable(queue, func(i, j int) bool { return queue[i].At < queue[j].At })
	return queue, last
}
