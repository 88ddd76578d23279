package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/canarylab/canarylab/result"
)

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	ClassName  string           `xml:"classname,attr"`
	Name       string           `xml:"name,attr"`
	Time       string           `xml:"time,attr"`
	Properties *junitProperties `xml:"properties,omitempty"`
	Failure    *junitMessage    `xml:"failure,omitempty"`
	Error      *junitMessage    `xml:"error,omitempty"`
	SystemOut  lines            `xml:"system-out,omitempty"`
}

type junitProperties struct {
	Property []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    lines  `xml:",chardata"`
}

// lines is element text that keeps its line breaks. encoding/xml writes a
// newline in a string field as "&#xA;", which parses back the same but puts
// a whole timeline on one line of the file; a CharData token is escaped
// without that.
type lines string

// MarshalXML writes the element with the text as it is (escaped, with
// literal newlines), or nothing for empty text.
func (text lines) MarshalXML(encoder *xml.Encoder, start xml.StartElement) error {
	if text == "" {
		return nil
	}
	return encodeText(encoder, start, string(text))
}

// MarshalXML writes the failure or error element, its text with literal
// newlines.
func (message junitMessage) MarshalXML(encoder *xml.Encoder, start xml.StartElement) error {
	start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "message"}, Value: message.Message})
	if message.Type != "" {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "type"}, Value: message.Type})
	}
	return encodeText(encoder, start, string(message.Text))
}

func encodeText(encoder *xml.Encoder, start xml.StartElement, text string) error {
	if err := encoder.EncodeToken(start); err != nil {
		return err
	}
	if text != "" {
		if err := encoder.EncodeToken(xml.CharData(text)); err != nil {
			return err
		}
	}
	return encoder.EncodeToken(start.End())
}

// JUnit writes the results as one JUnit XML test suite named suite: a test
// case per scenario (classname canarylab.<backend>), the failed assertions as
// its failure, a run that could not complete as its error, and the event
// timeline as its system-out.
//
// A case's time is what CI systems take it for: the wall seconds the run
// took on this machine (result.Result.Wall); the suite's is their sum. What
// happened in the run's own time (virtual on the sim) is in the case's
// properties: canarylab.outcome and canarylab.outcomeAtSeconds (when an
// outcome was reached), canarylab.runSeconds (the run's length: the end of
// the series, the last event or the outcome, whichever is latest) and
// canarylab.seed. The output depends only on the results.
func JUnit(w io.Writer, suite string, results []*result.Result) error {
	out := junitSuite{Name: suite, Tests: len(results)}
	var total float64
	for _, res := range results {
		wall := res.Wall.Seconds()
		total += wall
		testCase := junitCase{
			ClassName:  "canarylab." + res.Backend,
			Name:       res.Scenario,
			Time:       formatSeconds(wall),
			Properties: properties(res),
			SystemOut:  lines(timeline(res)),
		}
		var failed []string
		for _, assertion := range res.Assertions {
			if !assertion.Passed {
				failed = append(failed, assertion.Name+": "+assertion.Detail)
			}
		}
		switch {
		case res.Error != "":
			// A case is an error or a failure, not both; what failed before
			// the run broke off goes into the error's text.
			out.Errors++
			text := res.Error
			if len(failed) > 0 {
				text += "\nfailed so far:\n" + strings.Join(failed, "\n")
			}
			testCase.Error = &junitMessage{Message: res.Error, Type: "RunError", Text: lines(text)}
		case !res.Passed || len(failed) > 0:
			out.Failures++
			message := strings.Join(failed, "; ")
			if len(failed) == 0 {
				message = "the scenario did not pass, though no assertion failed"
			}
			testCase.Failure = &junitMessage{Message: message, Type: "ExpectationFailed", Text: lines(strings.Join(failed, "\n"))}
		}
		out.Cases = append(out.Cases, testCase)
	}
	out.Time = formatSeconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	encoder := xml.NewEncoder(w)
	encoder.Indent("", "  ")
	if err := encoder.Encode(junitSuites{Suites: []junitSuite{out}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// properties are the case's facts in the run's own time (virtual on the sim).
func properties(res *result.Result) *junitProperties {
	var props []junitProperty
	if res.Outcome.Result != "" {
		props = append(props,
			junitProperty{"canarylab.outcome", res.Outcome.Result},
			junitProperty{"canarylab.outcomeAtSeconds", formatSeconds(res.Outcome.AtSeconds)})
		if reason := res.Outcome.Reason; reason != nil {
			props = append(props, junitProperty{"canarylab.reason", reason.String()})
		}
	}
	props = append(props,
		junitProperty{"canarylab.runSeconds", formatSeconds(runLength(res))},
		junitProperty{"canarylab.seed", strconv.FormatInt(res.Seed, 10)})
	return &junitProperties{Property: props}
}

// runLength is the run's length in seconds: the end of the series, else the
// last event or the outcome, whichever is later.
func runLength(res *result.Result) float64 {
	seconds := res.Outcome.AtSeconds
	if res.Series != nil {
		step := max(res.Series.StepSeconds, 1)
		seconds = max(seconds, float64(len(res.Series.CanaryWeight)*step))
	}
	for _, event := range res.Events {
		seconds = max(seconds, event.AtSeconds)
	}
	return seconds
}

func formatSeconds(seconds float64) string { return strconv.FormatFloat(seconds, 'f', 3, 64) }

// timeline is the events, one a line: "  12.0s WeightChanged canaryWeight=20",
// steps counted from 1 ("   0.0s StepStarted step 1").
func timeline(res *result.Result) string {
	var b strings.Builder
	for _, event := range res.Events {
		line := fmt.Sprintf("%6ss %s", decimalSeconds(event.AtSeconds), event.Type)
		if details := event.Text(); details != "" {
			line += " " + details
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// decimalSeconds is seconds with at least one decimal and no rounding
// beyond the result's millisecond precision: "12.0", "33.45".
func decimalSeconds(seconds float64) string {
	text := strconv.FormatFloat(seconds, 'f', -1, 64)
	if !strings.Contains(text, ".") {
		text += ".0"
	}
	return text
}
