//go:build browser

package live

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/canarylab/canarylab/internal/browsertest"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// In a real browser: the live view of a catalog scenario at pace 10 shows
// the weight change over SSE, and a click on Promote promotes the paused
// rollout.
func TestLiveViewPromoteInChromium(t *testing.T) {
	sc, err := scenario.Load("../../scenarios/manual-pause-waits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopRun()
	view := New(sc)
	server := httptest.NewServer(view.Handler())
	defer server.Close()
	defer view.Close()

	browser := browsertest.New(t, 1280, 800)
	ctx, cancel := context.WithTimeout(browser, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#traffic"))); err != nil {
		t.Fatal(err)
	}

	done := make(chan *result.Result, 1)
	go func() {
		res, _ := runner.Run(runCtx, "sim", sc, runner.Options{Seed: 1, Pace: 10, Actions: view.Actions(), State: view.State, Progress: view.Event})
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
