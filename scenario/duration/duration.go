// Package duration holds the duration type of canarylab's YAML files: Go and
// Kubernetes syntax ("90s", "1m30s"), as the scenario contract says.
package duration

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration that reads and writes Go duration strings.
type Duration struct {
	time.Duration
}

// Of wraps d.
func Of(d time.Duration) Duration { return Duration{d} }

// Ptr wraps d for an optional field, where nil is "unset".
func Ptr(d time.Duration) *Duration { return &Duration{d} }

// UnmarshalYAML accepts a Go duration string. A bare number is rejected
// rather than guessed at (seconds? nanoseconds?), with a hint to add a unit.
func (d *Duration) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a string like 90s or 1m30s", node.Line)
	}
	parsed, err := Parse(node.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", node.Line, err)
	}
	d.Duration = parsed
	return nil
}

// MarshalYAML writes the Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.Duration.String(), nil }

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Duration.String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(data []byte) error {
	var text string
	if err := json.Unmarshal(data, &text); err != nil {
		return fmt.Errorf("a duration must be a string like 90s: %w", err)
	}
	parsed, err := Parse(text)
	if err != nil {
		return err
	}
	d.Duration = parsed
	return nil
}

// Add is a+b saturated at the largest and smallest durations: a sum of
// durations from a file never wraps around to a time in the past.
func Add(a, b time.Duration) time.Duration {
	sum := a + b
	switch {
	case a > 0 && b > 0 && sum < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && sum >= 0:
		return math.MinInt64
	}
	return sum
}

// Parse reads a Go duration string and explains what is wrong with a bad one.
func Parse(text string) (time.Duration, error) {
	parsed, err := time.ParseDuration(text)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use Go syntax such as 30s, 90s or 1m30s", text)
	}
	return parsed, nil
}
