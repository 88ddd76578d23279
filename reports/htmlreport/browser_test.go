//go:build browser

package htmlreport

import (
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/canarylab/canarylab/internal/browsertest"
	"github.com/canarylab/canarylab/result"
)

var screenshot = flag.String("screenshot", "", "also write the report's screenshot to this file (docs/report.png)")

// The report renders in a real browser: the chart and its parts are
// visible at 1280x800 and at a phone's width.
func TestReportInChromium(t *testing.T) {
	res := simulate(t, "bad-release-rolls-back")
	mux := http.NewServeMux()
	mux.HandleFunc("/page.html", func(w http.ResponseWriter, r *http.Request) { Page(w, res) })
	mux.HandleFunc("/index.html", func(w http.ResponseWriter, r *http.Request) { Index(w, []*result.Result{res}) })
	server := httptest.NewServer(mux)
	defer server.Close()

	for _, size := range []struct{ width, height int }{{1280, 800}, {390, 844}} {
		browser := browsertest.New(t, size.width, size.height)
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+"/page.html"),
			chromedp.WaitVisible(chromedp.CSS("svg.timeline")),
			chromedp.WaitVisible(chromedp.CSS("polyline.weight")),
			chromedp.WaitVisible(chromedp.CSS(".moment.aborted")),
			chromedp.WaitVisible(chromedp.CSS(".measurement.failed")),
			chromedp.WaitVisible(chromedp.CSS("table.events")),
		); err != nil {
			t.Fatalf("%dx%d: %v", size.width, size.height, err)
		}
		width, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector("svg.timeline").getBoundingClientRect().width`))
		if err != nil || width < 300 {
			t.Fatalf("%dx%d: the chart is %v px wide (%v)", size.width, size.height, width, err)
		}
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.body.scrollWidth > window.innerWidth + 1`))
		if err != nil || overflow {
			t.Errorf("%dx%d: the page is wider than the window (%v)", size.width, size.height, err)
		}
		if size.width == 1280 && *screenshot != "" {
			png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("svg.timeline")))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+"/index.html")); err != nil {
			t.Fatalf("index: %v", err)
		}
		// At a phone's width the sparkline column is hidden; the links are not.
		visible := "table.index svg.spark"
		if size.width < 640 {
			visible = "table.index a"
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(visible))); err != nil {
			t.Fatalf("index: %v", err)
		}
		link, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("table.index a").getAttribute("href")`))
		if err != nil || !strings.HasSuffix(link, ".html") {
			t.Errorf("index links to %q (%v)", link, err)
		}
		cancel()
	}
}
