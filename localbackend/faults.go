package localbackend

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/canarylab/canarylab/clusterdriver"
	"github.com/canarylab/canarylab/result"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/sim/dataplane"
)

// crashBackoff is how long a crashed container waits before it restarts
// once the crash loop ends (kubelet's first back-off, as on the sim).
const crashBackoff = 10 * time.Second

func (r *run) applyAction(ctx context.Context, event scenario.Event) error {
	emitted := result.Event{Type: result.ActionApplied, Action: event.Action}
	var err error
	switch event.Action {
	case scenario.ActionPromote:
		err = r.driver.Promote(ctx)
	case scenario.ActionPromoteFull:
		err = r.driver.PromoteFull(ctx)
	case scenario.ActionAbort:
		err = r.driver.Abort(ctx)
	case scenario.ActionRetry:
		err = r.driver.Retry(ctx)
	case scenario.ActionRelease:
		emitted.Image = event.Image
		r.emitNow(emitted)
		r.emitNow(result.Event{Type: result.ReleaseStarted, Image: event.Image})
		return r.driver.Release(ctx, event.Image, r.readyDelay(event.Image))
	default:
		return fmt.Errorf("action %q is not known", event.Action)
	}
	if err != nil {
		return fmt.Errorf("action %s: %w", event.Action, err)
	}
	r.emitNow(emitted)
	return nil
}

// applyLive applies an action or fault from the live view now; a fault
// with a duration ends by itself.
func (r *run) applyLive(ctx context.Context, event scenario.Event) error {
	if event.Action != "" {
		return r.applyAction(ctx, event)
	}
	if err := r.startFault(ctx, event); err != nil {
		return err
	}
	if event.For.Duration > 0 {
		time.AfterFunc(event.For.Duration, func() {
			if ctx.Err() == nil {
				r.endFault(ctx, event)
			}
		})
	}
	return nil
}

func (r *run) startFault(ctx context.Context, event scenario.Event) error {
	emitted := result.Event{Type: result.FaultStarted, Fault: event.Fault}
	switch event.Fault {
	case scenario.FaultMetricsOutage:
		r.metricsOutage++
		r.plane.api.SetOutage(true)
	case scenario.FaultMetricsEmpty:
		r.metricsEmpty++
		r.plane.api.SetEmpty(true)
	case scenario.FaultPodKill:
		killed, err := r.killPods(ctx, event.Target, event.Count)
		if err != nil {
			return err
		}
		emitted.Message = podsDeleted(killed, event.Target)
	case scenario.FaultCrashLoop:
		r.mu.Lock()
		r.crashLoop[event.Target] = true
		r.mu.Unlock()
		if err := r.setReady(ctx, event.Target, false); err != nil {
			return err
		}
		go r.holdCrashLoop(ctx, event.Target)
	case scenario.FaultErrorInjection:
		r.plane.with(func(w *dataplane.World) { w.SetErrorInjection(event.Target, *event.Rate) })
	case scenario.FaultLatencyInjection:
		r.plane.with(func(w *dataplane.World) { w.SetLatencyInjection(event.Target, event.Delay.Duration) })
	case scenario.FaultNoTraffic:
		r.plane.with(func(w *dataplane.World) { w.SetNoTraffic(true) })
	case scenario.FaultControllerRestart:
		if err := r.state.StopProcess("rollouts-controller"); err != nil {
			return err
		}
		if event.For.Duration == 0 {
			if err := r.state.StartProcess("rollouts-controller"); err != nil {
				return err
			}
		}
	case scenario.FaultGitopsRevert:
		if err := r.revertWeights(ctx); err != nil {
			return err
		}
	default:
		return fmt.Errorf("fault %q is not known", event.Fault)
	}
	r.emitNow(emitted)
	return nil
}

func (r *run) endFault(ctx context.Context, event scenario.Event) error {
	switch event.Fault {
	case scenario.FaultMetricsOutage:
		r.metricsOutage--
		r.plane.api.SetOutage(r.metricsOutage > 0)
	case scenario.FaultMetricsEmpty:
		r.metricsEmpty--
		r.plane.api.SetEmpty(r.metricsEmpty > 0)
	case scenario.FaultPodKill:
		return nil // instantaneous: the ReplicaSet replaces the pods
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
		if err := r.state.StartProcess("rollouts-controller"); err != nil {
			return err
		}
	}
	r.emitNow(result.Event{Type: result.FaultEnded, Fault: event.Fault})
	return nil
}

// targetHashes are the pod-template hashes of the target's ReplicaSets:
// canary (any image but the stable one), stable, or all.
func (r *run) targetHashes(target string) []string {
	var hashes []string
	for hash, rs := range r.observer.Snapshot().ReplicaSets {
		class := "canary"
		if rs.Image == r.sc.Spec.Stable {
			class = "stable"
		}
		if target == "all" || target == class {
			hashes = append(hashes, hash)
		}
	}
	sort.Strings(hashes)
	return hashes
}

// targetPods lists the target's pods, ready ones first.
func (r *run) targetPods(ctx context.Context, target string) ([]unstructured.Unstructured, error) {
	var pods []unstructured.Unstructured
	for _, hash := range r.targetHashes(target) {
		list, err := r.driver.Client.Resource(clusterdriver.Pods).Namespace(r.manifests.Namespace).List(ctx,
			metav1.ListOptions{LabelSelector: "rollouts-pod-template-hash=" + hash})
		if err != nil {
			return nil, fmt.Errorf("listing pods: %w", err)
		}
		for _, pod := range list.Items {
			if pod.GetDeletionTimestamp() == nil {
				pods = append(pods, pod)
			}
		}
	}
	sort.SliceStable(pods, func(i, j int) bool { return podReady(&pods[i]) && !podReady(&pods[j]) })
	return pods, nil
}

func podReady(pod *unstructured.Unstructured) bool {
	conditions, _, _ := unstructured.NestedSlice(pod.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			return m["status"] == "True"
		}
	}
	return false
}

// killPods deletes up to count of the target's pods, as `kubectl delete pod`.
func (r *run) killPods(ctx context.Context, target string, count int) (int, error) {
	pods, err := r.targetPods(ctx, target)
	if err != nil {
		return 0, err
	}
	killed := 0
	for _, pod := range pods {
		if killed == count {
			break
		}
		err := r.driver.Client.Resource(clusterdriver.Pods).Namespace(r.manifests.Namespace).Delete(ctx, pod.GetName(), metav1.DeleteOptions{})
		if err != nil {
			return killed, fmt.Errorf("deleting pod %s: %w", pod.GetName(), err)
		}
		killed++
	}
	return killed, nil
}

// setReady writes the Ready condition of the target's pods, as the kubelet
// does when a container crashes (and after it restarts). kwok readies pods
// only while they are Pending, so the condition stays as written.
func (r *run) setReady(ctx context.Context, target string, ready bool) error {
	pods, err := r.targetPods(ctx, target)
	if err != nil {
		return err
	}
	status := strconv.Quote(map[bool]string{true: "True", false: "False"}[ready])
	patch := `{"status":{"conditions":[{"type":"Ready","status":` + status + `},{"type":"ContainersReady","status":` + status + `}]}}`
	for _, pod := range pods {
		if podReady(&pod) == ready {
			continue
		}
		_, err := r.driver.Client.Resource(clusterdriver.Pods).Namespace(r.manifests.Namespace).Patch(ctx, pod.GetName(),
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

// revertWeights is a GitOps agent syncing the VirtualService as it is in
// the manifests (without ignoreDifferences): the weights go back to what
// Git says until the controller writes them again.
func (r *run) revertWeights(ctx context.Context) error {
	name := r.observer.VirtualService
	vs, ok := r.driver.Object("VirtualService", name)
	if !ok {
		return fmt.Errorf("gitops-revert: the scenario's manifests have no VirtualService %q", name)
	}
	return r.driver.ApplyObject(ctx, vs, "canarylab-gitops")
}

func podsDeleted(n int, target string) string {
	if n == 1 {
		return "deleted 1 " + target + " pod"
	}
	return "deleted " + strconv.Itoa(n) + " " + target + " pods"
}
