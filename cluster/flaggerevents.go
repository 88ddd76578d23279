package cluster

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/canarylab/canarylab/controller/flagger"
	"github.com/canarylab/canarylab/result"
)

// FlaggerMessage is one event Flagger recorded, as its event webhook posts
// it (FL pkg/controller/events.go sendEventToWebhook, webhook.go
// CallEventWebhook): the Canary, its phase then, and the message.
type FlaggerMessage struct {
	Canary, Namespace, Phase string
	// Type is Normal or Warning.
	Type    string
	Message string
	// Time is when Flagger sent it (the payload's timestamp, in ms).
	Time time.Time
}

// flaggerPayload is Flagger's CanaryWebhookPayload
// (FL pkg/apis/flagger/v1beta1/canary.go:464-481).
type flaggerPayload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Metadata  map[string]string `json:"metadata"`
}

// FlaggerEventHandler receives Flagger's event webhook (its -event-webhook
// flag, or a Canary's `event` hook) and passes each message on. It answers
// 200: Flagger takes a status up to 202 as delivered and logs anything
// else (FL pkg/controller/webhook.go:90-92).
func FlaggerEventHandler(receive func(FlaggerMessage)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var payload flaggerPayload
		if err := json.Unmarshal(body, &payload); err != nil {
			http.Error(w, "not a Flagger webhook payload: "+err.Error(), http.StatusBadRequest)
			return
		}
		message := FlaggerMessage{Canary: payload.Name, Namespace: payload.Namespace, Phase: payload.Phase,
			Type: payload.Metadata["eventType"], Message: payload.Metadata["eventMessage"], Time: time.Now()}
		if ms, err := strconv.ParseInt(payload.Metadata["timestamp"], 10, 64); err == nil {
			message.Time = time.UnixMilli(ms)
		}
		receive(message)
		w.WriteHeader(http.StatusOK)
	})
}

// messageTarget is the timeline event a Flagger message explains: its type
// and its weight ("10") or phase.
type messageTarget struct{ eventType, detail string }

// messageRules map Flagger's messages (verbatim in
// docs/measurements.md#flagger-event-messages)
// to the events they explain, as the sim's model attaches them. A metric
// check's failure is also a MeasurementTaken of its own.
var messageRules = []struct {
	pattern *regexp.Regexp
	targets func(match []string) []messageTarget
	metric  bool
}{
	{pattern: regexp.MustCompile(`^Advance \S+ canary weight (\d+)$`), targets: func(m []string) []messageTarget {
		return []messageTarget{{result.WeightChanged, m[1]}}
	}},
	{pattern: regexp.MustCompile(`^Advance \S+ primary weight (\d+)$`), targets: func(m []string) []messageTarget {
		primary, _ := strconv.Atoi(m[1])
		return []messageTarget{{result.WeightChanged, strconv.Itoa(100 - primary)}}
	}},
	{pattern: regexp.MustCompile(`^Routing all traffic to primary`), targets: func([]string) []messageTarget {
		return []messageTarget{{result.WeightChanged, "0"}, {result.CanaryPhaseChanged, flagger.PhaseFinalising}}
	}},
	{pattern: regexp.MustCompile(`^Routing all traffic to canary`), targets: func([]string) []messageTarget {
		return []messageTarget{{result.WeightChanged, "100"}}
	}},
	{pattern: regexp.MustCompile(`^New revision detected! Restarting analysis`), targets: func([]string) []messageTarget {
		return []messageTarget{{result.WeightChanged, "0"}, {result.CanaryPhaseChanged, flagger.PhaseProgressing}}
	}},
	{pattern: regexp.MustCompile(`^New revision detected!`), targets: func([]string) []messageTarget {
		return []messageTarget{{result.CanaryPhaseChanged, flagger.PhaseProgressing}}
	}},
	{pattern: regexp.MustCompile(`^Copying \S+ template spec to`), targets: func([]string) []messageTarget {
		return []messageTarget{{result.CanaryPhaseChanged, flagger.PhasePromoting}}
	}},
	{pattern: regexp.MustCompile(`^Promotion completed!`), targets: func([]string) []messageTarget {
		return []messageTarget{{result.CanaryPhaseChanged, flagger.PhaseSucceeded}}
	}},
	{pattern: regexp.MustCompile(`^(Canary failed!|Promotion of \S+ failed)`), targets: func([]string) []messageTarget {
		return []messageTarget{{result.CanaryPhaseChanged, flagger.PhaseFailed}}
	}},
	{pattern: regexp.MustCompile(`^Rolling back `), targets: func([]string) []messageTarget {
		return []messageTarget{{result.WeightChanged, "0"}}
	}},
	{pattern: regexp.MustCompile(`^Halt \S+ advancement waiting for promotion approval`), targets: func([]string) []messageTarget {
		return []messageTarget{{result.CanaryPhaseChanged, flagger.PhaseWaitingPromotion}}
	}},
	{pattern: regexp.MustCompile(`^Halt \S+ advancement waiting for approval`), targets: func([]string) []messageTarget {
		return []messageTarget{{result.CanaryPhaseChanged, flagger.PhaseWaiting}}
	}},
	// Checks that fail without a metric: hooks.
	{pattern: regexp.MustCompile(`^Halt \S+ advancement (pre-rollout check|external check)`), targets: func([]string) []messageTarget {
		return []messageTarget{{result.CheckFailed, ""}}
	}},
	// Metric checks (FL pkg/controller/scheduler_metrics.go).
	{pattern: regexp.MustCompile(`^(Halt \S+ advancement |Halt advancement no values found|Prometheus query failed|Metric query failed)`), targets: func([]string) []messageTarget {
		return []messageTarget{{result.CheckFailed, ""}}
	}, metric: true},
}

var (
	metricNoValues    = regexp.MustCompile(`^Halt advancement no values found for (?:\S+ metric |custom metric: |metric: )([^\s:]+)`)
	metricQueryFailed = regexp.MustCompile(`^Metric query failed for ([^\s:]+):`)
	metricHalt        = regexp.MustCompile(`^Halt \S+ advancement (.+) (-?[0-9.]+(?:%|ms|s|m)?) [<>] \S+$`)
	builtinNames      = map[string]string{"success rate": "request-success-rate", "request duration": "request-duration"}
)

// measurement turns a metric check's failure into the MeasurementTaken the
// sim's model records for it: Failed with the value Flagger printed, or
// Error when the query failed or found nothing.
func measurement(text string) result.Event {
	event := result.Event{Type: result.MeasurementTaken, Phase: "Error", Message: text}
	switch {
	case metricNoValues.MatchString(text):
		event.Metric = metricNoValues.FindStringSubmatch(text)[1]
	case metricQueryFailed.MatchString(text):
		event.Metric = metricQueryFailed.FindStringSubmatch(text)[1]
	case metricHalt.MatchString(text):
		match := metricHalt.FindStringSubmatch(text)
		event.Phase, event.Metric, event.Value = "Failed", match[1], match[2]
		if name, ok := builtinNames[match[1]]; ok {
			event.Metric = name
		}
	}
	return event
}

// joinWindow is how far apart a message and the event it explains may be:
// Flagger sends the message and writes the object within one tick's
// processing (0.02-0.7s, docs/measurements.md#flagger-ticks-and-timing).
const joinWindow = 2 * time.Second

// pendingMessage is a message whose event has not been seen yet.
type pendingMessage struct {
	at     time.Duration
	target messageTarget
	text   string
}

// FlaggerMessage puts a message Flagger sent on the timeline: as the
// message of the event it explains (a weight, a phase or a failed check,
// seen before or after it), and for a failed metric check also as a
// MeasurementTaken. Messages before the release (the initialization) and
// those that explain no event (readiness waits) are only logged.
func (s *Session) FlaggerMessage(m FlaggerMessage) {
	if s.Canary == nil || m.Canary != s.Canary.Name || m.Namespace != s.Canary.Namespace {
		return
	}
	wall := time.Now
	if s.WallClock != nil {
		wall = s.WallClock
	}
	at := s.Plane.Now() - wall().Sub(m.Time)
	if s.Log != nil {
		s.Log.Debug("Flagger", "type", m.Type, "message", m.Message, "at", at.Round(time.Millisecond))
	}
	if at < 0 {
		return
	}
	for _, rule := range messageRules {
		match := rule.pattern.FindStringSubmatch(m.Message)
		if match == nil {
			continue
		}
		if rule.metric {
			event := measurement(m.Message)
			event.AtSeconds = result.Seconds(at)
			s.Emit(event)
		}
		s.mu.Lock()
		for _, target := range rule.targets(match) {
			if !s.attachLocked(target, at, m.Message) {
				s.pending = append(s.pending, pendingMessage{at: at, target: target, text: m.Message})
			}
		}
		s.mu.Unlock()
		return
	}
}

// attachLocked gives the message to the latest event it explains that has
// none yet and is within the join window.
func (s *Session) attachLocked(target messageTarget, at time.Duration, text string) bool {
	for i := len(s.events) - 1; i >= 0; i-- {
		event := &s.events[i]
		if event.Message != "" || !explains(target, *event) || (event.At()-at).Abs() > joinWindow {
			continue
		}
		event.Message = text
		return true
	}
	return false
}

// takePendingLocked gives an event the oldest waiting message that
// explains it, and forgets messages too old to explain anything.
func (s *Session) takePendingLocked(event *result.Event) {
	kept := s.pending[:0]
	for _, p := range s.pending {
		switch {
		case event.At()-p.at > joinWindow:
			// too old: dropped
		case event.Message == "" && explains(p.target, *event) && (event.At()-p.at).Abs() <= joinWindow:
			event.Message = p.text
		default:
			kept = append(kept, p)
		}
	}
	s.pending = kept
}

func explains(target messageTarget, event result.Event) bool {
	if event.Type != target.eventType {
		return false
	}
	switch event.Type {
	case result.WeightChanged:
		return event.CanaryWeight != nil && strconv.Itoa(*event.CanaryWeight) == target.detail
	case result.CanaryPhaseChanged:
		return event.Phase == target.detail
	}
	return true
}
