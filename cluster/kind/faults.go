package kind

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/canarylab/canarylab/cluster"
	"github.com/canarylab/canarylab/fixtures/demoapp"
	"github.com/canarylab/canarylab/scenario"
	"github.com/canarylab/canarylab/scenario/duration"
)

// appPort is the port the fixture app serves its API on, /fault included
// (fixtures/image.Port).
const appPort = "8080"

// postFault sets a pod's run-time fault through the API server's pod proxy
// (POST /api/v1/namespaces/<ns>/pods/<pod>:8080/proxy/fault). The proxy
// rather than a port-forward: one HTTP request through the API server the
// backend already talks to, with no stream to hold open and no local port
// per pod; Istio's default PERMISSIVE mTLS lets the plain-text request
// from the API server through the sidecar.
func postFault(ctx context.Context, client rest.Interface, namespace, pod string, fault demoapp.Fault) error {
	body, err := json.Marshal(fault)
	if err != nil {
		return err
	}
	answer := client.Post().Namespace(namespace).Resource("pods").Name(pod+":"+appPort).
		SubResource("proxy").Suffix("fault").SetHeader("Content-Type", "application/json").Body(body).Do(ctx)
	if err := answer.Error(); err != nil {
		// The API server's own errors are Status objects, which err
		// carries; the app's (a 400 for a fault it rejects) are its JSON.
		raw, _ := answer.Raw()
		var status metav1.TypeMeta
		if json.Unmarshal(raw, &status) == nil && status.Kind != "Status" && len(raw) > 0 {
			return fmt.Errorf("setting the fault of pod %s/%s to %s: %w: %s", namespace, pod, body, err, strings.TrimSpace(string(raw)))
		}
		return fmt.Errorf("setting the fault of pod %s/%s to %s: %w", namespace, pod, body, err)
	}
	return nil
}

// injector keeps the error and latency injections on the pods of their
// target: it sets each pod's fault through postFault, also on pods that
// start while an injection lasts, and clears it when the injection ends.
// As on the sim, an injection sets the fault of its target's versions
// (canary, stable, or both for all), replacing an earlier one of the same
// kind, and ends by setting it to zero.
type injector struct {
	client    rest.Interface
	pods      dynamic.ResourceInterface
	namespace string
	log       *slog.Logger
	// class says whether a pod-template hash runs the stable version or
	// the canary; ok is false for a hash not seen yet.
	class func(hash string) (scenario.Target, bool)

	mu      sync.Mutex
	desired map[scenario.Target]demoapp.Fault // by class
	applied map[string]demoapp.Fault          // by pod
}

func newInjector(client rest.Interface, pods dynamic.ResourceInterface, namespace string, log *slog.Logger, class func(string) (scenario.Target, bool)) *injector {
	return &injector{client: client, pods: pods, namespace: namespace, log: log, class: class,
		desired: map[scenario.Target]demoapp.Fault{}, applied: map[string]demoapp.Fault{}}
}

func targetClasses(target scenario.Target) []scenario.Target {
	if target == scenario.TargetAll {
		return []scenario.Target{scenario.TargetStable, scenario.TargetCanary}
	}
	return []scenario.Target{target}
}

// setErrorRate and setLatency change the desired fault of the target's
// versions and apply it to their ready pods at once.
func (in *injector) setErrorRate(ctx context.Context, target scenario.Target, rate float64) error {
	in.mu.Lock()
	for _, class := range targetClasses(target) {
		fault := in.desired[class]
		fault.ErrorRate = rate
		in.desired[class] = fault
	}
	in.mu.Unlock()
	return in.sync(ctx, true)
}

func (in *injector) setLatency(ctx context.Context, target scenario.Target, delay time.Duration) error {
	in.mu.Lock()
	for _, class := range targetClasses(target) {
		fault := in.desired[class]
		fault.Latency = duration.Of(delay)
		in.desired[class] = fault
	}
	in.mu.Unlock()
	return in.sync(ctx, true)
}

// active says whether any pod has, or should have, a fault.
func (in *injector) active() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, fault := range in.desired {
		if fault != (demoapp.Fault{}) {
			return true
		}
	}
	for _, fault := range in.applied {
		if fault != (demoapp.Fault{}) {
			return true
		}
	}
	return false
}

// sync brings every ready pod of the app to its version's desired fault.
// A pod that is not ready is left for a later sync (its app or its sidecar
// may not answer yet); with strict, a ready pod that cannot be reached is
// an error, otherwise it is logged and tried again on the next sync.
func (in *injector) sync(ctx context.Context, strict bool) error {
	list, err := in.pods.List(ctx, metav1.ListOptions{LabelSelector: "rollouts-pod-template-hash"})
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	pods := list.Items
	sort.Slice(pods, func(i, j int) bool { return pods[i].GetName() < pods[j].GetName() })
	var errs []string
	seen := map[string]bool{}
	for i := range pods {
		pod := &pods[i]
		seen[pod.GetName()] = true
		class, ok := in.class(pod.GetLabels()["rollouts-pod-template-hash"])
		if !ok || pod.GetDeletionTimestamp() != nil || !cluster.PodReady(pod) {
			continue
		}
		in.mu.Lock()
		want, have := in.desired[class], in.applied[pod.GetName()]
		in.mu.Unlock()
		if want == have {
			continue
		}
		if err := postFault(ctx, in.client, in.namespace, pod.GetName(), want); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		in.mu.Lock()
		in.applied[pod.GetName()] = want
		in.mu.Unlock()
	}
	in.mu.Lock()
	for name := range in.applied {
		if !seen[name] {
			delete(in.applied, name) // the pod is gone
		}
	}
	in.mu.Unlock()
	if len(errs) == 0 {
		return nil
	}
	if strict {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	in.log.Warn("a pod's fault could not be set; trying again", "errors", strings.Join(errs, "; "))
	return nil
}

// keep syncs every second while an injection is active, until ctx ends.
func (in *injector) keep(ctx context.Context) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if in.active() {
				in.sync(ctx, false)
			}
		}
	}
}

var deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

// scaler changes the replicas of the platform's Deployments for the
// metrics-outage and controller-restart faults, and puts them back.
type scaler struct {
	client dynamic.Interface

	mu       sync.Mutex
	previous map[string]int64 // namespace/name: replicas before the fault
}

func newScaler(client dynamic.Interface) *scaler {
	return &scaler{client: client, previous: map[string]int64{}}
}

// down scales a Deployment to 0, remembering its replicas; a Deployment
// already down stays down.
func (s *scaler) down(ctx context.Context, namespace, name string) error {
	key := namespace + "/" + name
	s.mu.Lock()
	_, already := s.previous[key]
	s.mu.Unlock()
	if already {
		return nil
	}
	deployment, err := s.client.Resource(deployments).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading Deployment %s: %w", key, err)
	}
	replicas, found, _ := unstructured.NestedInt64(deployment.Object, "spec", "replicas")
	if !found {
		replicas = 1
	}
	if err := s.setReplicas(ctx, namespace, name, 0); err != nil {
		return err
	}
	s.mu.Lock()
	s.previous[key] = replicas
	s.mu.Unlock()
	return nil
}

// up gives a Deployment scaled down its replicas back.
func (s *scaler) up(ctx context.Context, namespace, name string) error {
	key := namespace + "/" + name
	s.mu.Lock()
	replicas, down := s.previous[key]
	s.mu.Unlock()
	if !down {
		return nil
	}
	if err := s.setReplicas(ctx, namespace, name, replicas); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.previous, key)
	s.mu.Unlock()
	return nil
}

// restore scales every Deployment still down back up and waits until each
// is available again, so that the next run finds the platform whole.
func (s *scaler) restore(ctx context.Context, deadline time.Duration) error {
	s.mu.Lock()
	keys := make([]string, 0, len(s.previous))
	for key := range s.previous {
		keys = append(keys, key)
	}
	s.mu.Unlock()
	sort.Strings(keys)
	for _, key := range keys {
		namespace, name, _ := strings.Cut(key, "/")
		if err := s.up(ctx, namespace, name); err != nil {
			return err
		}
		if err := s.waitAvailable(ctx, namespace, name, deadline); err != nil {
			return err
		}
	}
	return nil
}

func (s *scaler) setReplicas(ctx context.Context, namespace, name string, replicas int64) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	_, err := s.client.Resource(deployments).Namespace(namespace).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "canarylab"})
	if err != nil {
		return fmt.Errorf("scaling Deployment %s/%s to %d: %w", namespace, name, replicas, err)
	}
	return nil
}

func (s *scaler) waitAvailable(ctx context.Context, namespace, name string, deadline time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		deployment, err := s.client.Resource(deployments).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			want, _, _ := unstructured.NestedInt64(deployment.Object, "spec", "replicas")
			available, _, _ := unstructured.NestedInt64(deployment.Object, "status", "availableReplicas")
			if available >= want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Deployment %s/%s not available again within %s after a fault: %w", namespace, name, deadline, ctx.Err())
		case <-ticker.C:
		}
	}
}

// deletePods deletes the pods of a Deployment (by its selector), as
// `kubectl delete pod` does; its ReplicaSet starts new ones.
func deletePods(ctx context.Context, client dynamic.Interface, namespace, name string) ([]string, error) {
	deployment, err := client.Resource(deployments).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading Deployment %s/%s: %w", namespace, name, err)
	}
	matchLabels, _, _ := unstructured.NestedStringMap(deployment.Object, "spec", "selector", "matchLabels")
	if len(matchLabels) == 0 {
		return nil, fmt.Errorf("Deployment %s/%s has no matchLabels selector", namespace, name)
	}
	pods := client.Resource(cluster.Pods).Namespace(namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(matchLabels).String()})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of %s/%s: %w", namespace, name, err)
	}
	var deleted []string
	for _, pod := range list.Items {
		if err := pods.Delete(ctx, pod.GetName(), metav1.DeleteOptions{}); err != nil {
			return deleted, fmt.Errorf("deleting pod %s/%s: %w", namespace, pod.GetName(), err)
		}
		deleted = append(deleted, pod.GetName())
	}
	return deleted, nil
}
