// Package reports renders results for people and CI: JSON (the Result
// contract), JUnit XML, Markdown, HTML and a terminal summary. Every
// renderer reads only the Result, never the backend, in the manner of
// vegeta's Reporter(io.Writer) error.
package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/canarylab/canarylab/reports/htmlreport"
	"github.com/canarylab/canarylab/result"
)

// JSON writes the result as the contract's JSON, byte for byte what
// result.Result.JSON returns.
func JSON(w io.Writer, res *result.Result) error {
	data, err := res.JSON()
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// resultFile is a report written once per result, as <scenario><suffix>.
type resultFile struct {
	name   string // what it is, for errors: "Markdown"
	suffix string
	render func(io.Writer, *result.Result) error
}

// runFile is a report written once for all results of a run.
type runFile struct {
	name   string
	file   string
	render func(io.Writer, []*result.Result) error
}

// resultFiles are the reports of each result; a new format is one more entry.
var resultFiles = []resultFile{
	{"JSON", ".json", JSON},
	{"Markdown", ".md", Markdown},
	{"HTML", ".html", htmlreport.Page},
}

// runFiles are the reports of the whole run.
var runFiles = []runFile{
	{"JUnit XML", "junit.xml", func(w io.Writer, results []*result.Result) error { return JUnit(w, "canarylab", results) }},
	{"Markdown summary", "summary.md", MarkdownSummary},
	{"HTML index", "index.html", htmlreport.Index},
}

// WriteDir writes every report into dir, creating it if needed, and returns
// the paths written: <scenario>.json, <scenario>.md and <scenario>.html per
// result, then junit.xml, summary.md and index.html.
//
// Every report is rendered before any is written, and each file is written
// to a temporary file in dir and renamed over its name, so an interrupted
// or failed run never leaves half a report. Files other than its own are
// left alone. Scenario names that would write outside dir or make two
// reports share a file are refused before anything is written.
func WriteDir(dir string, results []*result.Result) ([]string, error) {
	return writeDir(dir, results, resultFiles, runFiles)
}

func writeDir(dir string, results []*result.Result, perResult []resultFile, perRun []runFile) ([]string, error) {
	type report struct {
		name, file string
		render     func(io.Writer) error
	}
	var (
		planned  []report
		problems []error
		owner    = map[string]string{} // file name → what writes it
	)
	plan := func(name, file, who string, render func(io.Writer) error) {
		if previous, taken := owner[file]; taken {
			problems = append(problems, fmt.Errorf("%s and %s would both be written to %s: give the scenarios distinct names", previous, who, file))
			return
		}
		owner[file] = who
		planned = append(planned, report{name, file, render})
	}
	for i, res := range results {
		if res == nil {
			problems = append(problems, fmt.Errorf("result %d is nil", i))
			continue
		}
		if err := checkFileName(res.Scenario); err != nil {
			problems = append(problems, err)
			continue
		}
		for _, renderer := range perResult {
			who := fmt.Sprintf("the %s report of scenario %q", renderer.name, res.Scenario)
			plan(renderer.name, res.Scenario+renderer.suffix, who, func(w io.Writer) error { return renderer.render(w, res) })
		}
	}
	for _, renderer := range perRun {
		plan(renderer.name, renderer.file, "the "+renderer.name, func(w io.Writer) error { return renderer.render(w, results) })
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("report directory %s: %w", dir, errors.Join(problems...))
	}

	rendered := make([][]byte, len(planned))
	for i, report := range planned {
		var buffer bytes.Buffer
		if err := report.render(&buffer); err != nil {
			return nil, fmt.Errorf("rendering %s (%s): %w", report.file, report.name, err)
		}
		rendered[i] = buffer.Bytes()
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating report directory: %w", err)
	}
	written := make([]string, 0, len(planned))
	for i, report := range planned {
		path := filepath.Join(dir, report.file)
		if err := writeAtomic(path, rendered[i]); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// checkFileName refuses scenario names that are no plain file name in the
// report directory. The loader allows only DNS labels, but results can be
// made by hand (go test against scenarios).
func checkFileName(scenario string) error {
	switch {
	case scenario == "":
		return errors.New("a result has no scenario name, which its report files are named after")
	case strings.ContainsAny(scenario, `/\`) || strings.HasPrefix(scenario, ".") || !filepath.IsLocal(scenario):
		return fmt.Errorf("scenario name %q cannot name a file in the report directory: use letters, digits and dashes", scenario)
	}
	return nil
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, synced, then renamed, so readers see the old file or the new
// one and never a part.
func writeAtomic(path string, data []byte) error {
	temp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// After a successful rename the temporary name no longer exists and
	// this does nothing; on any failure it removes the partial file.
	defer os.Remove(temp.Name())
	if _, err := temp.Write(data); err != nil {
		temp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := temp.Sync(); err != nil {
		temp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := temp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// CreateTemp makes the file private (0600); reports are for sharing.
	if err := os.Chmod(temp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(temp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// tally counts the results that passed, failed an expectation, and could
// not run (Error set; these count as neither passed nor failed).
func tally(results []*result.Result) (passed, failed, errored int) {
	for _, res := range results {
		switch {
		case res.Error != "":
			errored++
		case res.Passed:
			passed++
		default:
			failed++
		}
	}
	return passed, failed, errored
}

// tallyLine is "N passed, M failed", and ", K could not run" when some did not.
func tallyLine(results []*result.Result) string {
	passed, failed, errored := tally(results)
	line := fmt.Sprintf("%d passed, %d failed", passed, failed)
	if errored > 0 {
		line += fmt.Sprintf(", %d could not run", errored)
	}
	return line
}

// verdict is a result in one word: PASS, FAIL or ERROR.
func verdict(res *result.Result) string {
	switch {
	case res.Error != "":
		return "ERROR"
	case res.Passed:
		return "PASS"
	}
	return "FAIL"
}
