package scenario

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Quantity is a bound on failed requests: an absolute count ("12") or a
// percentage of all requests ("2%").
type Quantity struct {
	Value   float64
	Percent bool
}

// String writes the quantity as it is written in a scenario file.
func (q Quantity) String() string {
	text := strconv.FormatFloat(q.Value, 'f', -1, 64)
	if q.Percent {
		return text + "%"
	}
	return text
}

// Limit is the bound for a run of total requests.
func (q Quantity) Limit(total int64) float64 {
	if q.Percent {
		return q.Value / 100 * float64(total)
	}
	return q.Value
}

// ParseQuantity reads "12" or "2%".
func ParseQuantity(text string) (Quantity, error) {
	trimmed := strings.TrimSpace(text)
	percent := strings.HasSuffix(trimmed, "%")
	number := strings.TrimSuffix(trimmed, "%")
	value, err := strconv.ParseFloat(strings.TrimSpace(number), 64)
	if err != nil || math.IsNaN(value) || math.IsInf(value, 0) {
		return Quantity{}, fmt.Errorf("invalid quantity %q: write a count such as 12 or a percentage such as 2%%", text)
	}
	if value < 0 {
		return Quantity{}, fmt.Errorf("quantity %q must not be negative", text)
	}
	if percent && value > 100 {
		return Quantity{}, fmt.Errorf("percentage %q is above 100%%", text)
	}
	return Quantity{Value: value, Percent: percent}, nil
}

// UnmarshalYAML reads a count or a percentage.
func (q *Quantity) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: maxFailedRequests must be a count or a percentage such as 2%%", node.Line)
	}
	parsed, err := ParseQuantity(node.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", node.Line, err)
	}
	*q = parsed
	return nil
}

// MarshalYAML writes the quantity as text.
func (q Quantity) MarshalYAML() (any, error) { return q.String(), nil }

// MarshalJSON writes the quantity as text.
func (q Quantity) MarshalJSON() ([]byte, error) { return json.Marshal(q.String()) }
