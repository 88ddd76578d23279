package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/canarylab/canarylab/controller/argorollouts"
	"github.com/canarylab/canarylab/controller/flagger"
	argomodel "github.com/canarylab/canarylab/sim/argorollouts"
	"github.com/canarylab/canarylab/sim/dataplane"
	flaggermodel "github.com/canarylab/canarylab/sim/flagger"
	"github.com/canarylab/canarylab/sim/loadtester"
)

// controller is what the run needs of a controller model.
type controller interface {
	Release(image string)
	// The operator's actions; each controller has those of
	// scenario.ActionsFor, which the engine keeps to.
	Promote()
	PromoteFull()
	Abort()
	Retry()
	SetDown(down bool)
	RevertWeights()
	RoutedCanaryWeight() int
	Image() string
	Step() (int, int)
	Phase() string
	// Outcome is the final state so far; nil at is "now".
	Outcome() (string, *time.Duration)
	// Settled: a promoted or rolled-back release has scaled its pods down.
	Settled() bool
	// Detail is the live view's extra line (Flagger: failed checks and the
	// last check's values).
	Detail() string
}

// argoModel adapts the Argo Rollouts model.
type argoModel struct{ *argomodel.Controller }

// Outcome is the controller's rule (argorollouts.Outcome) on the model.
func (a argoModel) Outcome() (string, *time.Duration) {
	return argorollouts.Outcome(argorollouts.Progress{Phase: a.Phase(), Abort: a.Aborted(), FullyPromoted: a.FullyPromoted(),
		PromotedAt: a.PromotedAt, AbortedAt: a.AbortedAt, PausedAt: a.PausedAt})
}

func (a argoModel) Settled() bool  { return a.Controller.Settled }
func (a argoModel) Detail() string { return "" }

// flaggerModel adapts the Flagger model; its gates are the emulated
// loadtester's (docs/architecture.md#actions: promote opens
// confirm-promotion, abort the rollback gate).
type flaggerModel struct {
	*flaggermodel.Controller
	tester *loadtester.Tester
	m      *flagger.Manifests
}

func (f flaggerModel) Promote() { f.tester.OpenGate(f.m.Canary.Metadata.Name, f.m.Namespace) }
func (f flaggerModel) Abort()   { f.tester.OpenRollback(f.m.Canary.Metadata.Name, f.m.Namespace) }

// PromoteFull and Retry are not Flagger's (scenario.ActionsFor).
func (f flaggerModel) PromoteFull() {}
func (f flaggerModel) Retry()       {}

// Outcome is the controller's rule (flagger.Outcome) on the model.
func (f flaggerModel) Outcome() (string, *time.Duration) {
	return flagger.Outcome(f.Phase(), flagger.Reached{Succeeded: f.PromotedAt, Failed: f.FailedAt, Waiting: f.WaitingAt})
}

func (f flaggerModel) Settled() bool { return f.Controller.Settled }

func (f flaggerModel) Detail() string {
	failed, threshold := f.FailedChecks()
	detail := fmt.Sprintf("failed checks %d/%d", failed, threshold)
	for _, metric := range f.m.Canary.Spec.Analysis.Metrics {
		if value, ok := f.LastCheck[metric.Name]; ok {
			detail += fmt.Sprintf(", %s %s", metric.Name, value)
		}
	}
	return detail
}

// newFlagger builds the Flagger model with its loadtester on the run.
func (r *run) newFlagger(m *flagger.Manifests) flaggerModel {
	tester := loadtester.New(r.loop.Now, func(task loadtester.Task) {
		if task.Err != nil || task.EndAt <= task.StartAt {
			return // not hey or wrk, or malformed: accepted, no load (as the real tester logs it)
		}
		r.loop.At(task.StartAt, func() { r.world.AddLoad(loadFor(task)) })
	})
	tester.Declare(m.DeclaredTasks())
	webhooks := func(hook flagger.Webhook, payload flaggermodel.Payload) (int, string, error) {
		return callLoadtester(tester, hook, payload)
	}
	// The job's phase: Flagger's ticks fall anywhere relative to a release.
	interval := flagger.AnalysisInterval(m.Canary.Spec.Analysis)
	phase := time.Duration(uint64(r.opts.Seed)*104729%uint64(interval/time.Millisecond)) * time.Millisecond
	ctrl := flaggermodel.New(r.loop, r.world, m, flaggermodel.MetricsProvider(r.query), webhooks, r.emit, r.cfg.Flagger, r.sc.Spec.Stable, phase)
	return flaggerModel{Controller: ctrl, tester: tester, m: m}
}

// loadFor turns a loadtester task into data-plane load.
func loadFor(task loadtester.Task) dataplane.Load {
	load := task.Load
	return dataplane.Load{Host: load.Host, RPS: load.RPS, Concurrency: load.Concurrency, ClosedLoop: load.ClosedLoop,
		Headers: load.Headers, Until: task.EndAt, MaxRequests: load.Requests}
}

// callLoadtester posts a webhook to the emulated loadtester in process, as
// Flagger would over HTTP; any other URL is unreachable, as it is for the
// real controller without such a service.
func callLoadtester(tester *loadtester.Tester, hook flagger.Webhook, payload flaggermodel.Payload) (int, string, error) {
	if !flagger.IsLoadtesterURL(hook.URL) {
		host := hook.URL
		if u, err := url.Parse(hook.URL); err == nil {
			host = u.Hostname()
		}
		return 0, "", fmt.Errorf("Post %q: dial tcp: lookup %s: no such host", hook.URL, host)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, "", err
	}
	u, err := url.Parse(hook.URL)
	if err != nil {
		return 0, "", err
	}
	request := httptest.NewRequest(http.MethodPost, u.RequestURI(), bytes.NewReader(body))
	request.Header.Set("Content-Type", "application/json")
	recorder := httptest.NewRecorder()
	tester.ServeHTTP(recorder, request)
	return recorder.Code, recorder.Body.String(), nil
}
