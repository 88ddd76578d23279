//go:build browser

// Package browsertest starts a real headless Chromium for tests that look
// at pages (go test -tags browser). Chromium comes from Debian's chromium
// package (.ci/run installs it); CHROMIUM overrides its path.
package browsertest

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// Candidates are where Debian's package puts the browser; the real binary
// first, which skips the wrapper script's flags.
var Candidates = []string{"/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"}

// Path finds the browser or fails the test saying how to install it.
func Path(t testing.TB) string {
	t.Helper()
	if path := os.Getenv("CHROMIUM"); path != "" {
		return path
	}
	for _, path := range Candidates {
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	t.Fatalf("no Chromium found at %v: install it with `apt-get install chromium` or set CHROMIUM", Candidates)
	return ""
}

// New starts a headless browser with a fixed 1280x800 viewport and returns
// a context for chromedp actions; it is closed when the test ends.
func New(t testing.TB, width, height int) context.Context {
	t.Helper()
	var output bytes.Buffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(width, height),
		chromedp.CombinedOutput(&output),
	)
	allocator, cancelAllocator := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocator)
	t.Cleanup(func() {
		cancel()
		cancelAllocator()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v\n%s", Path(t), err, output.String())
	}
	return ctx
}
