package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager owns every field canarylab applies.
const FieldManager = "canarylab"

var (
	crdKind     = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	podResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// Applier server-side applies objects to a cluster and waits for them.
type Applier struct {
	client    dynamic.Interface
	discovery discovery.DiscoveryInterface
	mapper    meta.ResettableRESTMapper
	// DryRun applies with dryRun=All: the apiserver checks every object
	// and stores none (and nothing is waited for).
	DryRun bool
	// PollInterval is how often a wait looks again (default 2s).
	PollInterval time.Duration
	Log          *slog.Logger
}

// NewApplier connects to the cluster config points at.
func NewApplier(config *rest.Config, log *slog.Logger) (*Applier, error) {
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Applier{client: client, discovery: disco, Log: log,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))}, nil
}

// Capabilities describes the cluster to Helm's templates as `helm install`
// does: its Kubernetes version and the API versions and kinds it serves.
func (a *Applier) Capabilities() (*chartutil.Capabilities, error) {
	info, err := a.discovery.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("asking the cluster for its version: %w", err)
	}
	_, lists, err := a.discovery.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("asking the cluster for its APIs: %w", err)
	}
	var versions chartutil.VersionSet
	for _, list := range lists {
		versions = append(versions, list.GroupVersion)
		for _, resource := range list.APIResources {
			if !strings.Contains(resource.Name, "/") {
				versions = append(versions, list.GroupVersion+"/"+resource.Kind)
			}
		}
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: info.GitVersion, Major: info.Major, Minor: info.Minor}
	caps.APIVersions = versions
	return caps, nil
}

// Install applies objects (step names them in logs) and waits until
// they are usable, within timeout: the namespaces and CRDs first, until
// every CRD is Established (so that the rest may use its kinds), then the
// rest in Helm's install order, until every Deployment has all its replicas
// available.
func (a *Applier) Install(ctx context.Context, step string, objects []*unstructured.Unstructured, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	objects = append([]*unstructured.Unstructured(nil), objects...)
	sortForInstall(objects)
	var first, rest []*unstructured.Unstructured
	for _, obj := range objects {
		if gk := obj.GroupVersionKind().GroupKind(); gk == (schema.GroupKind{Kind: "Namespace"}) || gk == crdKind {
			first = append(first, obj)
		} else {
			rest = append(rest, obj)
		}
	}
	if err := a.applyAll(ctx, step, first); err != nil {
		return err
	}
	if !a.DryRun {
		for _, obj := range first {
			if obj.GroupVersionKind().GroupKind() == crdKind {
				if err := a.waitFor(ctx, step, obj, timeout, a.crdEstablished); err != nil {
					return err
				}
			}
		}
		// The new kinds are served now; forget what discovery said before.
		a.mapper.Reset()
	}
	if err := a.applyAll(ctx, step, rest); err != nil {
		return err
	}
	if a.DryRun {
		return nil
	}
	for _, obj := range rest {
		if obj.GetKind() == "Deployment" && obj.GroupVersionKind().Group == "apps" {
			if err := a.waitFor(ctx, step, obj, timeout, a.deploymentAvailable); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *Applier) applyAll(ctx context.Context, step string, objects []*unstructured.Unstructured) error {
	for _, obj := range objects {
		if err := a.Apply(ctx, obj); err != nil {
			return fmt.Errorf("applying %s: %w", describe(obj), err)
		}
	}
	if len(objects) > 0 {
		a.Log.Info("applied", "step", step, "objects", len(objects), "dryRun", a.DryRun)
	}
	return nil
}

// Apply server-side applies one object, taking over fields other managers
// set (an installer owns what it installs).
func (a *Applier) Apply(ctx context.Context, obj *unstructured.Unstructured) error {
	resource, err := a.resource(obj)
	if err != nil {
		return err
	}
	options := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if a.DryRun {
		options.DryRun = []string{metav1.DryRunAll}
	}
	_, err = resource.Apply(ctx, obj.GetName(), obj, options)
	return err
}

// resource is the client of obj's kind, in its namespace when the kind is
// namespaced.
func (a *Applier) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// A CRD applied moments ago by another step.
		a.mapper.Reset()
		mapping, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("the cluster does not serve %s: %w", gvk, err)
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return a.client.Resource(mapping.Resource), nil
	}
	if obj.GetNamespace() == "" {
		return nil, fmt.Errorf("%s is namespaced and has no namespace", gvk.Kind)
	}
	return a.client.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
}

// A readiness check says whether the live object is ready, and if not, why.
type readiness func(ctx context.Context, live *unstructured.Unstructured) (bool, string)

// waitFor polls obj until ready says so, or the step's deadline passes;
// the error names the object and the last reason it was not ready.
func (a *Applier) waitFor(ctx context.Context, step string, obj *unstructured.Unstructured, timeout time.Duration, ready readiness) error {
	resource, err := a.resource(obj)
	if err != nil {
		return fmt.Errorf("%s: %w", describe(obj), err)
	}
	interval := a.PollInterval
	if interval == 0 {
		interval = 2 * time.Second
	}
	started := time.Now()
	reason := "not looked at yet"
	err = wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		live, err := resource.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			reason = err.Error()
			return false, nil
		}
		var done bool
		done, reason = ready(ctx, live)
		return done, nil
	})
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s not ready within %s: %s", describe(obj), timeout, reason)
		}
		return fmt.Errorf("waiting for %s: %w (%s)", describe(obj), err, reason)
	}
	a.Log.Info("ready", "step", step, "object", describe(obj), "took", time.Since(started).Round(100*time.Millisecond))
	return nil
}

func (a *Applier) crdEstablished(_ context.Context, live *unstructured.Unstructured) (bool, string) {
	return crdEstablished(live)
}

// crdEstablished: the CRD's Established condition is True (its kind is
// served).
func crdEstablished(live *unstructured.Unstructured) (bool, string) {
	status, message := condition(live, "Established")
	if status == "True" {
		return true, ""
	}
	if status == "" {
		return false, "no Established condition yet"
	}
	return false, "Established is " + status + ": " + message
}

// deploymentAvailable adds, when the Deployment is not ready, what its pods
// wait for (an image pull, a crash), which is what a user needs to know.
func (a *Applier) deploymentAvailable(ctx context.Context, live *unstructured.Unstructured) (bool, string) {
	ready, reason := deploymentAvailable(live)
	if ready {
		return true, ""
	}
	if pods := a.podProblems(ctx, live); pods != "" {
		reason += "; " + pods
	}
	return false, reason
}

// deploymentAvailable: the controller has seen the Deployment's latest
// spec and status.availableReplicas reaches spec.replicas.
func deploymentAvailable(live *unstructured.Unstructured) (bool, string) {
	observed, _, _ := unstructured.NestedInt64(live.Object, "status", "observedGeneration")
	if observed < live.GetGeneration() {
		return false, fmt.Sprintf("the deployment controller has not seen generation %d yet", live.GetGeneration())
	}
	replicas, found, _ := unstructured.NestedInt64(live.Object, "spec", "replicas")
	if !found {
		replicas = 1
	}
	available, _, _ := unstructured.NestedInt64(live.Object, "status", "availableReplicas")
	if available >= replicas {
		return true, ""
	}
	reason := fmt.Sprintf("%d of %d replicas available", available, replicas)
	if status, message := condition(live, "Available"); status != "" {
		reason += " (Available=" + status + ": " + message + ")"
	}
	return false, reason
}

// podProblems lists the containers of the Deployment's pods that wait, and
// why: "pod istiod-5f6c9: discovery: ImagePullBackOff (...)".
func (a *Applier) podProblems(ctx context.Context, deployment *unstructured.Unstructured) string {
	matchLabels, _, _ := unstructured.NestedStringMap(deployment.Object, "spec", "selector", "matchLabels")
	if len(matchLabels) == 0 {
		return ""
	}
	pods, err := a.client.Resource(podResource).Namespace(deployment.GetNamespace()).List(ctx,
		metav1.ListOptions{LabelSelector: labels.SelectorFromSet(matchLabels).String()})
	if err != nil || len(pods.Items) == 0 {
		return ""
	}
	var problems []string
	for _, pod := range pods.Items {
		for _, field := range []string{"initContainerStatuses", "containerStatuses"} {
			statuses, _, _ := unstructured.NestedSlice(pod.Object, "status", field)
			for _, entry := range statuses {
				status, _ := entry.(map[string]any)
				waiting, found, _ := unstructured.NestedMap(status, "state", "waiting")
				if !found {
					continue
				}
				problem := fmt.Sprintf("pod %s: %v: %v", pod.GetName(), status["name"], waiting["reason"])
				if message, _ := waiting["message"].(string); message != "" {
					problem += " (" + message + ")"
				}
				problems = append(problems, problem)
			}
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, "; ")
}

// condition returns the status and message of the live object's condition
// of the given type ("" if it has none).
func condition(live *unstructured.Unstructured, conditionType string) (status, message string) {
	conditions, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
	for _, entry := range conditions {
		c, ok := entry.(map[string]any)
		if ok && c["type"] == conditionType {
			status, _ = c["status"].(string)
			message, _ = c["message"].(string)
			return status, message
		}
	}
	return "", ""
}
