package local

import (
	"context"
	"fmt"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/dataplane"
)

// crashBackoff is how long a crashed container waits before it restarts
// once the crash loop ends (kubelet's first back-off, as on the sim).
const crashBackoff = 10 * time.Second

// crashRecheck is how often a crash loop marks the target's new pods not
// ready (those the ReplicaSet creates meanwhile).
const crashRecheck = 500 * time.Millisecond

// crash is a target's crash loop: on, or ended and its pods ready again
// at readyAt. It is kept by the run's loop (Advance), never by a timer,
// so nothing of it happens after the run.
type crash struct {
	on        bool
	readyAt   time.Duration
	checkedAt time.Duration
}

// CrashLoop makes the target's pods not ready, as the kubelet reports a
// crashing container, until it ends and the back-off has passed.
func (r *run) CrashLoop(ctx context.Context, target scenario.Target, on bool) (string, error) {
	now := r.Now()
	if !on {
		r.crashes[target] = crash{readyAt: now + crashBackoff}
		return "", nil
	}
	r.crashes[target] = crash{on: true, checkedAt: now}
	return "", r.setReady(ctx, target, false)
}

// followCrashes, on every step of the run, keeps crash-looping targets'
// pods not ready and readies those whose back-off has passed.
func (r *run) followCrashes() error {
	now := r.Now()
	for target, c := range r.crashes {
		switch {
		case c.on && now-c.checkedAt >= crashRecheck:
			c.checkedAt = now
			r.crashes[target] = c
			if err := r.setReady(r.ctx, target, false); err != nil {
				return err
			}
		case !c.on && now >= c.readyAt:
			delete(r.crashes, target)
			if err := r.setReady(r.ctx, target, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// ErrorRate, Latency and NoTraffic act on the data plane.
func (r *run) ErrorRate(_ context.Context, target scenario.Target, rate float64) (string, error) {
	r.plane.with(func(w *dataplane.World) { w.SetErrorInjection(string(target), rate) })
	return "", nil
}

func (r *run) Latency(_ context.Context, target scenario.Target, delay time.Duration) (string, error) {
	r.plane.with(func(w *dataplane.World) { w.SetLatencyInjection(string(target), delay) })
	return "", nil
}

func (r *run) NoTraffic(_ context.Context, on bool) (string, error) {
	r.plane.with(func(w *dataplane.World) { w.SetNoTraffic(on) })
	return "", nil
}

// MetricsOutage and MetricsEmpty change what the plane's Prometheus API
// answers.
func (r *run) MetricsOutage(_ context.Context, on bool) (string, error) {
	r.plane.api.SetOutage(on)
	return "", nil
}

func (r *run) MetricsEmpty(_ context.Context, on bool) (string, error) {
	r.plane.api.SetEmpty(on)
	return "", nil
}

// ControllerDown stops the run's controller process, or starts it again.
func (r *run) ControllerDown(_ context.Context, down bool) (string, error) {
	if r.flagger != nil {
		if down {
			return "", r.flagger.Halt()
		}
		return "", r.flagger.Resume()
	}
	if down {
		return "", r.state.StopProcess("rollouts-controller")
	}
	return "", r.state.StartProcess("rollouts-controller")
}

// setReady writes the Ready condition of the target's pods, as the kubelet
// does when a container crashes (and after it restarts). kwok readies pods
// only while they are Pending, so the condition stays as written.
func (r *run) setReady(ctx context.Context, target scenario.Target, ready bool) error {
	pods, err := r.session.TargetPods(ctx, target)
	if err != nil {
		return err
	}
	status := strconv.Quote(map[bool]string{true: "True", false: "False"}[ready])
	patch := `{"status":{"conditions":[{"type":"Ready","status":` + status + `},{"type":"ContainersReady","status":` + status + `}]}}`
	for _, pod := range pods {
		if cluster.PodReady(&pod) == ready {
			continue
		}
		_, err := r.session.Client.Resource(cluster.Pods).Namespace(r.namespace()).Patch(ctx, pod.GetName(),
			types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
		if err != nil {
			return fmt.Errorf("setting pod %s ready=%t: %w", pod.GetName(), ready, err)
		}
	}
	return nil
}
