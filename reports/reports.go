// Package reports renders results for people and CI: JSON (the Result
// contract), JUnit XML, Markdown, HTML and a terminal summary. Every
// renderer reads only the Result, never the backend, in the manner of
// vegeta's Reporter(io.Writer) error.
package reports

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/canarylab/canarylab/reports/htmlreport"
	"github.com/canarylab/canarylab/result"
)

// JSON writes the result as the contract's JSON.
func JSON(w io.Writer, res *result.Result) error {
	data, err := res.JSON()
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// perResult are the files written for each result: <scenario><suffix>.
var perResult = []struct {
	suffix string
	render func(io.Writer, *result.Result) error
}{
	{".json", JSON},
	{".md", Markdown},
	{".html", htmlreport.Page},
}

// perRun are the files written once for all results.
var perRun = []struct {
	name   string
	render func(io.Writer, []*result.Result) error
}{
	{"junit.xml", func(w io.Writer, results []*result.Result) error { return JUnit(w, "canarylab", results) }},
	{"summary.md", MarkdownSummary},
	{"index.html", htmlreport.Index},
}

// WriteDir writes every report into dir, creating it if needed, and returns
// the paths written. Each file is written to a temporary file and renamed,
// so an interrupted run never leaves half a report; files other than its own
// are left alone.
func WriteDir(dir string, results []*result.Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating report directory: %w", err)
	}
	var written []string
	write := func(name string, render func(io.Writer) error) error {
		var buffer bytes.Buffer
		if err := render(&buffer); err != nil {
			return fmt.Errorf("rendering %s: %w", name, err)
		}
		path := filepath.Join(dir, name)
		if err := writeAtomic(path, buffer.Bytes()); err != nil {
			return err
		}
		written = append(written, path)
		return nil
	}
	for _, res := range results {
		for _, renderer := range perResult {
			if err := write(res.Scenario+renderer.suffix, func(w io.Writer) error { return renderer.render(w, res) }); err != nil {
				return written, err
			}
		}
	}
	for _, renderer := range perRun {
		if err := write(renderer.name, func(w io.Writer) error { return renderer.render(w, results) }); err != nil {
			return written, err
		}
	}
	return written, nil
}

func writeAtomic(path string, data []byte) error {
	temp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(temp.Name())
	if _, err := temp.Write(data); err != nil {
		temp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := temp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(temp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(temp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
