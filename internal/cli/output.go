package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/canarylab/canarylab/runner"
)

// Output formats of -o. json is one document for a whole command (a JSON
// array, also of one item, so that a CI job parses every answer the same
// way); ndjson is one compact JSON value a line, written as each is ready.
const (
	outputText   = "text"
	outputJSON   = "json"
	outputNDJSON = "ndjson"
)

// addOutputFlag adds -o/--output (text, json or ndjson) to cmd.
func addOutputFlag(cmd *cobra.Command, target *string, what string) {
	cmd.Flags().StringVarP(target, "output", "o", outputText, "output: text, json ("+what+" as one JSON array) or ndjson (one JSON object a line)")
}

// checkOutput refuses an -o the command does not know (exit 2).
func checkOutput(output string) error {
	switch output {
	case outputText, outputJSON, outputNDJSON:
		return nil
	}
	return &usageError{fmt.Errorf("--output %q: use text, json or ndjson", output)}
}

// machineOutput says whether -o asks for JSON of either kind.
func machineOutput(output string) bool { return output == outputJSON || output == outputNDJSON }

// writeJSONArray writes items as one indented JSON array and a newline:
// "[]" when there are none.
func writeJSONArray[T any](w io.Writer, items []T) error {
	if items == nil {
		items = []T{}
	}
	data, err := json.MarshalIndent(items, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// writeJSONLine writes item as one compact JSON line (ndjson).
func writeJSONLine(w io.Writer, item any) error {
	data, err := json.Marshal(item)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// writeItems writes items in the output format: a JSON array for json, a
// line each for ndjson. text is the caller's own.
func writeItems[T any](w io.Writer, output string, items []T) error {
	if output == outputJSON {
		return writeJSONArray(w, items)
	}
	for _, item := range items {
		if err := writeJSONLine(w, item); err != nil {
			return err
		}
	}
	return nil
}

// terminalWidth says whether w is a terminal, and its width in columns
// (0 when unknown).
func terminalWidth(w io.Writer) (bool, int) {
	file, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(file.Fd())) {
		return false, 0
	}
	width, _, err := term.GetSize(int(file.Fd()))
	if err != nil {
		return true, 0
	}
	return true, width
}

// Progress modes of run --progress.
const (
	progressAuto = "auto" // on for the backends that run in real time (local, kind), unless --quiet
	progressOn   = "on"
	progressOff  = "off"
)

// plainProgressEvery is how often a progress line is written where stderr
// is no terminal (a CI log).
const plainProgressEvery = 10 * time.Second

// progressLine shows where a long run is: on a terminal one line rewritten
// in place (\r) at every state the run reports (once a second of run time),
// elsewhere a plain line at most every plainProgressEvery of wall time.
// Its methods are safe for concurrent use.
type progressLine struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	width    int              // columns of the terminal, 0 unknown
	now      func() time.Time // the wall clock; tests pass a fake
	every    time.Duration    // plain lines: the least time between two

	name    string    // the scenario running
	started time.Time // when its run began, on the wall clock
	last    time.Time // plain: when the last line was written
	written bool      // plain: a line was written for this scenario
	shown   bool      // terminal: a line is on the screen
}

// newProgressLine writes to w, rewriting one line if w is a terminal.
func newProgressLine(w io.Writer) *progressLine {
	terminal, width := terminalWidth(w)
	return &progressLine{w: w, terminal: terminal, width: width, now: time.Now, every: plainProgressEvery}
}

// start begins the line of a scenario's run.
func (p *progressLine) start(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.name, p.started, p.written = name, p.now(), false
}

// state shows the run's state (runner.Options.State).
func (p *progressLine) state(name string, state runner.State) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if name != p.name {
		p.name, p.started, p.written = name, now, false
	}
	line := p.line(state, now.Sub(p.started))
	if p.terminal {
		if p.width > 1 && utf8.RuneCountInString(line) >= p.width {
			line = string([]rune(line)[:p.width-2]) + "…"
		}
		fmt.Fprint(p.w, "\r\x1b[K"+line)
		p.shown = true
		return
	}
	if p.written && now.Sub(p.last) < p.every {
		return
	}
	p.last, p.written = now, true
	fmt.Fprintln(p.w, line)
}

// line is "▸ NAME  run 1m23s  wall 2m05s  canary 20%  step 2/8  Paused".
func (p *progressLine) line(state runner.State, wall time.Duration) string {
	parts := []string{
		"▸ " + p.name,
		"run " + time.Duration(state.AtSeconds*float64(time.Second)).Round(time.Second).String(),
		"wall " + wall.Round(time.Second).String(),
		fmt.Sprintf("canary %d%%", state.CanaryWeight),
	}
	if state.Steps > 0 {
		parts = append(parts, fmt.Sprintf("step %d/%d", min(state.Step+1, state.Steps), state.Steps))
	}
	if state.Phase != "" {
		parts = append(parts, state.Phase)
	}
	if state.Detail != "" {
		parts = append(parts, state.Detail)
	}
	return strings.Join(parts, "  ")
}

// clear takes the line off a terminal, so that other output starts at the
// left margin; the next state draws it again.
func (p *progressLine) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

func (p *progressLine) clearLocked() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// clearing is a writer (stdout) that first takes the progress line off the
// terminal, for output on the same screen.
type clearing struct {
	w        io.Writer
	progress *progressLine
}

func (c clearing) Write(data []byte) (int, error) {
	c.progress.mu.Lock()
	defer c.progress.mu.Unlock()
	c.progress.clearLocked()
	return c.w.Write(data)
}
