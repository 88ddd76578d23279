package localbackend

import (
	"context"
	"fmt"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/canarylab/canarylab/clusterdriver"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/dataplane"
)

// crashBackoff is how long a crashed container waits before it restarts
// once the crash loop ends (kubelet's first back-off, as on the sim).
const crashBackoff = 10 * time.Second

// StartFault applies the faults that act on the data plane or the local
// processes (the Session applies pod-kill and gitops-revert).
func (r *run) StartFault(ctx context.Context, event scenario.Event) (string, error) {
	switch event.Fault {
	case scenario.FaultMetricsOutage:
		r.metricsOutage++
		r.plane.api.SetOutage(true)
	case scenario.FaultMetricsEmpty:
		r.metricsEmpty++
		r.plane.api.SetEmpty(true)
	case scenario.FaultCrashLoop:
		r.mu.Lock()
		r.crashLoop[event.Target] = true
		r.mu.Unlock()
		if err := r.setReady(ctx, event.Target, false); err != nil {
			return "", err
		}
		go r.holdCrashLoop(ctx, event.Target)
	case scenario.FaultErrorInjection:
		r.plane.with(func(w *dataplane.World) { w.SetErrorInjection(event.Target, *event.Rate) })
	case scenario.FaultLatencyInjection:
		r.plane.with(func(w *dataplane.World) { w.SetLatencyInjection(event.Target, event.Delay.Duration) })
	case scenario.FaultNoTraffic:
		r.plane.with(func(w *dataplane.World) { w.SetNoTraffic(true) })
	case scenario.FaultControllerRestart:
		if r.flagger != nil {
			if err := r.flagger.Halt(); err != nil {
				return "", err
			}
			if event.For.Duration == 0 {
				if err := r.flagger.Resume(); err != nil {
					return "", err
				}
			}
			break
		}
		if err := r.state.StopProcess("rollouts-controller"); err != nil {
			return "", err
		}
		if event.For.Duration == 0 {
			if err := r.state.StartProcess("rollouts-controller"); err != nil {
				return "", err
			}
		}
	default:
		return "", fmt.Errorf("fault %q is not known", event.Fault)
	}
	return "", nil
}

// EndFault undoes what StartFault did.
func (r *run) EndFault(ctx context.Context, event scenario.Event) error {
	switch event.Fault {
	case scenario.FaultMetricsOutage:
		r.metricsOutage--
		r.plane.api.SetOutage(r.metricsOutage > 0)
	case scenario.FaultMetricsEmpty:
		r.metricsEmpty--
		r.plane.api.SetEmpty(r.metricsEmpty > 0)
	case scenario.FaultCrashLoop:
		r.mu.Lock()
		r.crashLoop[event.Target] = false
		r.mu.Unlock()
		target := event.Target
		time.AfterFunc(crashBackoff, func() {
			if ctx.Err() == nil {
				r.setReady(ctx, target, true)
			}
		})
	case scenario.FaultErrorInjection:
		r.plane.with(func(w *dataplane.World) { w.SetErrorInjection(event.Target, 0) })
	case scenario.FaultLatencyInjection:
		r.plane.with(func(w *dataplane.World) { w.SetLatencyInjection(event.Target, 0) })
	case scenario.FaultNoTraffic:
		r.plane.with(func(w *dataplane.World) { w.SetNoTraffic(false) })
	case scenario.FaultControllerRestart:
		if r.flagger != nil {
			return r.flagger.Resume()
		}
		if err := r.state.StartProcess("rollouts-controller"); err != nil {
			return err
		}
	}
	return nil
}

// setReady writes the Ready condition of the target's pods, as the kubelet
// does when a container crashes (and after it restarts). kwok readies pods
// only while they are Pending, so the condition stays as written.
func (r *run) setReady(ctx context.Context, target string, ready bool) error {
	pods, err := r.session.TargetPods(ctx, target)
	if err != nil {
		return err
	}
	status := strconv.Quote(map[bool]string{true: "True", false: "False"}[ready])
	patch := `{"status":{"conditions":[{"type":"Ready","status":` + status + `},{"type":"ContainersReady","status":` + status + `}]}}`
	for _, pod := range pods {
		if clusterdriver.PodReady(&pod) == ready {
			continue
		}
		_, err := r.session.Client.Resource(clusterdriver.Pods).Namespace(r.namespace()).Patch(ctx, pod.GetName(),
			types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
		if err != nil {
			return fmt.Errorf("setting pod %s ready=%t: %w", pod.GetName(), ready, err)
		}
	}
	return nil
}

// holdCrashLoop keeps the target's pods not ready while the crash loop
// lasts, also pods the ReplicaSet creates meanwhile.
func (r *run) holdCrashLoop(ctx context.Context, target string) {
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	for r.crashLoopOn(target) {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			r.setReady(ctx, target, false)
		}
	}
}

func (r *run) crashLoopOn(target string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.crashLoop[target]
}
