//go:build browser

package live

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/canarylab/canarylab/internal/browsertest"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim"
)

// openInChromium serves the live view of sc and opens it in a headless
// Chromium: the context to run the scenario on (60s), the view, and the
// browser's context (45s). Everything ends with the test.
func openInChromium(t *testing.T, sc *scenario.Scenario) (context.Context, *Server, context.Context) {
	t.Helper()
	runCtx, stopRun := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(stopRun)
	view := New(sc)
	server := serve(t, view)
	t.Cleanup(view.Close)

	browser := browsertest.New(t, 1280, 800)
	ctx, cancel := context.WithTimeout(browser, 45*time.Second)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#traffic"))); err != nil {
		t.Fatal(err)
	}
	return runCtx, view, ctx
}

// In a real browser: the live view of a catalog scenario at pace 10 shows
// the weight change over SSE, and a click on Promote promotes the paused
// rollout.
func TestLiveViewPromoteInChromium(t *testing.T) {
	sc, err := scenario.Load("../../scenarios/manual-pause-waits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, view, ctx := openInChromium(t, sc)

	done := make(chan *result.Result, 1)
	go func() {
		res, _ := runner.Run(runCtx, sim.New(), sc, runner.Options{Seed: 1, Pace: 10, Actions: view.Actions(), State: view.State, Progress: view.Event})
		if res != nil {
			view.Result(res)
		}
		done <- res
	}()

	paused, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`document.getElementById("weight-canary").textContent === "20" && document.getElementById("phase").textContent === "Paused"`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || !paused {
		t.Fatalf("the page never showed the rollout paused at 20%%: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#btn-promote"))); err != nil {
		t.Fatal(err)
	}
	promoted, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`[...document.querySelectorAll("#log div")].some(d => d.textContent.includes("RolloutPromoted"))`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || !promoted {
		t.Fatalf("the page never showed the promotion: %v", err)
	}
	select {
	case res := <-done:
		if res == nil || res.Outcome.Result != scenario.OutcomePromoted {
			t.Fatalf("the run ended %+v, want promoted", res)
		}
	case <-runCtx.Done():
		t.Fatal("the run did not end")
	}
	banner, err := chromedp.Run(ctx, chromedp.Poll[string](`document.getElementById("result").textContent || null`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || !strings.Contains(banner, "promoted") {
		t.Fatalf("result banner %q (%v)", banner, err)
	}
}

// Profile colours, an image name and a description holding markup are
// shown as text, or not at all, and never run. The scenario is built in
// Go, past the loader's checks; the server leaves such colours out, and a
// state sent past that check shows the page's own.
func TestLiveViewShowsMarkupAsTextInChromium(t *testing.T) {
	const hostile = `<img src=x onerror="document.title='pwned'">`
	breakout := `red">` + hostile // out of a style="..." first
	sc := loadScenario(t, "../../scenarios/crash-looping-canary-rolls-back.yaml")
	profiles := maps.Clone(sc.Profiles)
	for image, color := range map[string]string{sc.Spec.Stable: hostile, sc.Spec.Release: breakout} {
		profile := profiles[image]
		profile.Color = color
		profiles[image] = profile
	}
	sc.Profiles = profiles
	sc.Metadata.Description = hostile
	runCtx, view, ctx := openInChromium(t, sc)
	go func() {
		res, _ := runner.Run(runCtx, sim.New(), sc, runner.Options{Seed: 1, Pace: 20, Actions: view.Actions(), State: view.State, Progress: view.Event})
		view.Result(res)
	}()
	// By the result the page has had every state of the run.
	if _, err := chromedp.Run(ctx, chromedp.Poll[string](`document.getElementById("result").textContent || null`,
		chromedp.WithPollingTimeout(40*time.Second))); err != nil {
		t.Fatalf("the page never showed the result: %v", err)
	}
	// Past the server's check, straight to the page.
	view.publish(kindState, runner.State{AtSeconds: 99, Phase: hostile, Detail: hostile,
		Colors:   map[string]string{"stable": hostile, "canary": breakout},
		Images:   map[string]string{"stable": hostile, "canary": breakout},
		Requests: map[string]int64{"stable": 10, "canary": 10}, Failed: map[string]int64{}})
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("clock").textContent === "99s"`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the page never showed the last state: %v", err)
	}
	type shown struct {
		Title       string `json:"title"`
		Images      int    `json:"images"`
		Description string `json:"description"`
		Legend      string `json:"legend"`
		Canary      string `json:"canary"`
	}
	page, err := chromedp.Run(ctx, chromedp.Evaluate[shown](`({
		title: document.title,
		images: document.getElementsByTagName("img").length,
		description: document.getElementById("description").textContent,
		legend: document.getElementById("legend").textContent,
		canary: getComputedStyle(document.getElementById("bar-canary")).backgroundColor,
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if page.Title != "canarylab live" || page.Images != 0 {
		t.Errorf("the markup ran: title %q, %d img elements", page.Title, page.Images)
	}
	if page.Description != hostile || !strings.Contains(page.Legend, "canary: "+breakout) {
		t.Errorf("description %q, legend %q: want the markup shown as text", page.Description, page.Legend)
	}
	if page.Canary != "rgb(63, 182, 139)" {
		t.Errorf("the canary's colour is %s, want the default: %q is not a colour", page.Canary, breakout)
	}
}
