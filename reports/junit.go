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
	ClassName string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// JUnit writes the results as one JUnit XML test suite: a test case per
// scenario, failed assertions as its failure, a backend error as its error,
// and the timeline as its output. Times are virtual seconds on the sim.
func JUnit(w io.Writer, suite string, results []*result.Result) error {
	out := junitSuite{Name: suite, Tests: len(results)}
	var total float64
	for _, res := range results {
		seconds := runLength(res)
		total += seconds
		testCase := junitCase{ClassName: "canarylab." + res.Backend, Name: res.Scenario, Time: formatSeconds(seconds), SystemOut: timeline(res)}
		var failed []string
		for _, assertion := range res.Assertions {
			if !assertion.Passed {
				failed = append(failed, assertion.Name+": "+assertion.Detail)
			}
		}
		switch {
		case res.Error != "":
			out.Errors++
			testCase.Error = &junitMessage{Message: res.Error, Type: "BackendError", Text: res.Error}
		case len(failed) > 0 || !res.Passed:
			out.Failures++
			testCase.Failure = &junitMessage{Message: strings.Join(failed, "; "), Type: "ExpectationFailed", Text: strings.Join(failed, "\n")}
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

// runLength is the run's length in seconds: the series, else the last event.
func runLength(res *result.Result) float64 {
	seconds := res.Outcome.AtSeconds
	if res.Series != nil {
		seconds = max(seconds, float64(len(res.Series.CanaryWeight)))
	}
	for _, event := range res.Events {
		seconds = max(seconds, event.AtSeconds)
	}
	return seconds
}

func formatSeconds(seconds float64) string { return strconv.FormatFloat(seconds, 'f', 3, 64) }

// timeline is the events, one per line.
func timeline(res *result.Result) string {
	var b strings.Builder
	for _, event := range res.Events {
		fmt.Fprintf(&b, "%9.3fs %s %s\n", event.AtSeconds, event.Type, event.Describe())
	}
	return b.String()
}
