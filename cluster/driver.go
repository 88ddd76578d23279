// Package cluster drives a scenario on a real cluster, whatever runs
// it (the local control plane or kind): it applies the scenario's manifests,
// deploys the stable image and waits for it to be Healthy, releases, makes
// the same patches as the `kubectl argo rollouts` plugin for the operator
// actions, and watches the Rollout, its AnalysisRuns, ReplicaSets, Services
// and Istio routing to build the result timeline the sim builds.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/canarylab/canarylab/runner"
	"github.com/canarylab/canarylab/scenario"
)

// Resources the driver touches.
var (
	Rollouts          = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}
	AnalysisRuns      = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysisruns"}
	ReplicaSets       = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	Services          = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	Pods              = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	Namespaces        = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	VirtualServices   = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1beta1", Resource: "virtualservices"}
	DestinationRules  = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1beta1", Resource: "destinationrules"}
	AnalysisTemplates = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysistemplates"}
	ClusterTemplates  = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "clusteranalysistemplates"}
)

// kinds maps the manifest kinds a scenario may hold to their resources
// (whether they are namespaced is the second value).
var kinds = map[string]struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}{
	"Rollout":                 {Rollouts, true},
	"AnalysisTemplate":        {AnalysisTemplates, true},
	"ClusterAnalysisTemplate": {ClusterTemplates, false},
	"Service":                 {Services, true},
	"VirtualService":          {VirtualServices, true},
	"DestinationRule":         {DestinationRules, true},
	// Flagger scenarios'.
	"Deployment":              {Deployments, true},
	"Canary":                  {Canaries, true},
	"MetricTemplate":          {MetricTemplates, true},
	"HorizontalPodAutoscaler": {HorizontalPodAutoscalers, true},
	"ConfigMap":               {ConfigMaps, true},
	"Secret":                  {Secrets, true},
}

// ManagedBy labels every object the driver applies, so that cleanup never
// touches anything else and an object a user made is never overwritten.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "canarylab"
	fieldManager   = "canarylab"
)

// PodReadyDelayAnnotation is read by the kwok pod-ready stage of the local
// control plane: a pod turns ready that long after it is created.
const PodReadyDelayAnnotation = "pod-ready.stage.kwok.x-k8s.io/delay"

// Object is one manifest to apply, with where it came from.
type Object struct {
	*unstructured.Unstructured
	Where string
	// gvr is the object's resource; empty until resolved for a kind the
	// driver does not know.
	gvr schema.GroupVersionResource
	// defaultNamespace is where it goes if it is namespaced and names none.
	defaultNamespace string
}

// Objects decodes the scenario's manifests into objects in namespace ns
// (where a document names none). Kinds the driver does not know are
// resolved on the cluster when the run prepares (Driver.Prepare); a
// Namespace manifest of the run's own namespace is left to Prepare, which
// creates it, so a run never deletes a namespace it did not make.
func Objects(docs []scenario.Document, ns string) ([]Object, error) {
	var objects []Object
	var problems []string
	for _, doc := range docs {
		var content map[string]any
		if err := yaml.Unmarshal(doc.Raw, &content); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", doc.Where(), err))
			continue
		}
		obj := &unstructured.Unstructured{Object: content}
		if obj.GetKind() == "Namespace" && obj.GetAPIVersion() == "v1" && obj.GetName() == ns {
			continue
		}
		kind, known := kinds[doc.Kind]
		if known && kind.namespaced && obj.GetNamespace() == "" {
			obj.SetNamespace(ns)
		}
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[ManagedByLabel] = ManagedBy
		obj.SetLabels(labels)
		object := Object{Unstructured: obj, Where: doc.Where(), defaultNamespace: ns}
		if known {
			object.gvr = resourceOf(obj, kind.gvr)
		}
		objects = append(objects, object)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w:\n  %s", scenario.ErrInvalid, strings.Join(problems, "\n  "))
	}
	return objects, nil
}

// NewObject makes an object the backend adds to the scenario's (applied
// and deleted with them, labelled as canarylab's); where says why it exists.
func NewObject(obj *unstructured.Unstructured, where string) (Object, error) {
	kind, ok := kinds[obj.GetKind()]
	if !ok {
		return Object{}, fmt.Errorf("kind %s is not applied by the cluster backends", obj.GetKind())
	}
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManagedByLabel] = ManagedBy
	obj.SetLabels(labels)
	return Object{Unstructured: obj, Where: where, gvr: resourceOf(obj, kind.gvr)}, nil
}

// resourceOf is the resource an object is applied as: its kind's, at the
// version its apiVersion names (networking.istio.io/v1alpha3 as well as
// v1), as kubectl apply sends it; the API server serves every version its
// CRD lists.
func resourceOf(obj *unstructured.Unstructured, gvr schema.GroupVersionResource) schema.GroupVersionResource {
	if gv, err := schema.ParseGroupVersion(obj.GetAPIVersion()); err == nil && gv.Group == gvr.Group && gv.Version != "" {
		gvr.Version = gv.Version
	}
	return gvr
}

// resolve finds the resources of objects of kinds the driver does not
// know (an Istio Gateway, a ServiceAccount, a Namespace...) on the
// cluster, as kubectl does, and puts the namespaced ones in the run's
// namespace when they name none. A kind the cluster does not serve is a
// backend error naming the object's file:line.
func (d *Driver) resolve() error {
	for i := range d.Objects {
		obj := &d.Objects[i]
		if !obj.gvr.Empty() {
			continue
		}
		gvk := obj.GroupVersionKind()
		if d.Mapper == nil {
			return fmt.Errorf("%w: %s: %s %s is applied as it is, which needs the cluster's API discovery", runner.ErrBackend, obj.Where, gvk.Kind, obj.GetName())
		}
		mapping, err := d.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%w: %s: the cluster serves no %s of %s (%v): install its CRD, or leave the object out of the manifests",
				runner.ErrBackend, obj.Where, gvk.Kind, gvk.GroupVersion(), err)
		}
		obj.gvr = mapping.Resource
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace && obj.GetNamespace() == "" {
			obj.SetNamespace(obj.defaultNamespace)
		}
	}
	return nil
}

// Driver runs one scenario's objects on a cluster.
type Driver struct {
	Client    dynamic.Interface
	Namespace string
	// Rollout is the name of the released workload: the scenario's Rollout,
	// or the Deployment a Flagger Canary targets.
	Rollout string
	// Kind is the released workload's kind: Rollout (when empty) or Deployment.
	Kind string
	// Container is the index of the workload's container whose image is released.
	Container int
	Objects   []Object
	// Mapper finds the resources of kinds the driver does not know; nil
	// when every object is of a known kind.
	Mapper meta.RESTMapper
}

func (d *Driver) kind() string {
	if d.Kind == "" {
		return "Rollout"
	}
	return d.Kind
}

func (d *Driver) resource(obj Object) dynamic.ResourceInterface {
	if obj.GetNamespace() == "" {
		return d.Client.Resource(obj.gvr)
	}
	return d.Client.Resource(obj.gvr).Namespace(obj.GetNamespace())
}

// Prepare makes sure the namespace exists and that no object of the
// scenario already exists unless canarylab made it: a user's object is never
// overwritten.
func (d *Driver) Prepare(ctx context.Context) error {
	if err := d.resolve(); err != nil {
		return err
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": d.Namespace}}}
	if _, err := d.Client.Resource(Namespaces).Get(ctx, d.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := d.Client.Resource(Namespaces).Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", d.Namespace, err)
		}
	} else if err != nil {
		return fmt.Errorf("reading namespace %s: %w", d.Namespace, err)
	}
	for _, obj := range d.Objects {
		existing, err := d.resource(obj).Get(ctx, obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		if existing.GetLabels()[ManagedByLabel] != ManagedBy {
			return fmt.Errorf("%s %s/%s already exists and canarylab did not create it (%s): delete it or run the scenario in another namespace",
				obj.GetKind(), obj.GetNamespace(), obj.GetName(), obj.Where)
		}
	}
	return nil
}

// Apply server-side applies every object, the Rollout (or Canary) last so
// that its templates, Services and target exist when the controller first
// sees it.
func (d *Driver) Apply(ctx context.Context) error {
	ordered := append([]Object(nil), d.Objects...)
	last := func(obj Object) bool { return obj.GetKind() == "Rollout" || obj.GetKind() == "Canary" }
	sort.SliceStable(ordered, func(i, j int) bool { return last(ordered[j]) && !last(ordered[i]) })
	for _, obj := range ordered {
		if err := d.ApplyObject(ctx, obj, fieldManager); err != nil {
			return err
		}
	}
	return nil
}

// ApplyObject server-side applies one object as the given field manager,
// taking over conflicting fields (what a GitOps agent does on sync).
func (d *Driver) ApplyObject(ctx context.Context, obj Object, manager string) error {
	if _, err := d.resource(obj).Apply(ctx, obj.GetName(), obj.Unstructured, metav1.ApplyOptions{FieldManager: manager, Force: true}); err != nil {
		return fmt.Errorf("applying %s %s (%s): %w", obj.GetKind(), obj.GetName(), obj.Where, err)
	}
	return nil
}

// Object returns the scenario's object of a kind and name.
func (d *Driver) Object(kind, name string) (Object, bool) {
	for _, obj := range d.Objects {
		if obj.GetKind() == kind && obj.GetName() == name {
			return obj, true
		}
	}
	return Object{}, false
}

// SetImage sets the released container's image and the pod template's
// annotations on the workload object (Rollout or Deployment) before it is
// applied.
func (d *Driver) SetImage(image string, annotations map[string]string) error {
	rollout, ok := d.Object(d.kind(), d.Rollout)
	if !ok {
		return fmt.Errorf("the scenario has no %s %s", d.kind(), d.Rollout)
	}
	containers, _, _ := unstructured.NestedSlice(rollout.Object, "spec", "template", "spec", "containers")
	if d.Container >= len(containers) {
		return fmt.Errorf("%s: %s %s has no container %d", rollout.Where, d.kind(), d.Rollout, d.Container)
	}
	containers[d.Container].(map[string]any)["image"] = image
	if err := unstructured.SetNestedSlice(rollout.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		return err
	}
	existing, _, _ := unstructured.NestedStringMap(rollout.Object, "spec", "template", "metadata", "annotations")
	if existing == nil {
		existing = map[string]string{}
	}
	for key, value := range annotations {
		existing[key] = value
	}
	return unstructured.SetNestedStringMap(rollout.Object, existing, "spec", "template", "metadata", "annotations")
}

// Release patches the workload's pod template to a new image (and pod
// annotations): what a deploy pipeline does.
func (d *Driver) Release(ctx context.Context, image string, annotations map[string]string) error {
	if d.kind() == "Deployment" {
		return d.patchImage(ctx, image, annotations)
	}
	if err := d.SetImage(image, annotations); err != nil {
		return err
	}
	rollout, _ := d.Object("Rollout", d.Rollout)
	return d.ApplyObject(ctx, rollout, fieldManager)
}

// The patches of the kubectl argo rollouts plugin v1.10.2
// (pkg/kubectl-argo-rollouts/cmd/promote/promote.go getPatches;
// cmd/abort/abort.go; cmd/retry/retry.go), sent to the status subresource.
const (
	unpausePatch                      = `{"spec":{"paused":false}}`
	clearPauseConditionsPatch         = `{"status":{"pauseConditions":null}}`
	clearPauseConditionsWithStepPatch = `{"status":{"pauseConditions":null,"currentStepIndex":%d}}`
	promoteFullPatch                  = `{"status":{"promoteFull":true}}`
	abortPatch                        = `{"status":{"abort":true}}`
	retryPatch                        = `{"status":{"abort":false}}`
)

// Promote is `kubectl argo rollouts promote`: clear the pause conditions, or
// when there are none, move past the current step.
func (d *Driver) Promote(ctx context.Context) error {
	ro, err := d.Client.Resource(Rollouts).Namespace(d.Namespace).Get(ctx, d.Rollout, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if paused, _, _ := unstructured.NestedBool(ro.Object, "spec", "paused"); paused {
		if err := d.patch(ctx, unpausePatch, false); err != nil {
			return err
		}
	}
	conditions, _, _ := unstructured.NestedSlice(ro.Object, "status", "pauseConditions")
	if len(conditions) > 0 {
		return d.patch(ctx, clearPauseConditionsPatch, true)
	}
	steps, _, _ := unstructured.NestedSlice(ro.Object, "spec", "strategy", "canary", "steps")
	index, found, _ := unstructured.NestedInt64(ro.Object, "status", "currentStepIndex")
	if !found {
		return nil
	}
	if index < int64(len(steps)) {
		index++
	}
	return d.patch(ctx, fmt.Sprintf(clearPauseConditionsWithStepPatch, index), true)
}

// PromoteFull is `kubectl argo rollouts promote --full`.
func (d *Driver) PromoteFull(ctx context.Context) error {
	ro, err := d.Client.Resource(Rollouts).Namespace(d.Namespace).Get(ctx, d.Rollout, metav1.GetOptions{})
	if err != nil {
		return err
	}
	current, _, _ := unstructured.NestedString(ro.Object, "status", "currentPodHash")
	stable, _, _ := unstructured.NestedString(ro.Object, "status", "stableRS")
	if current == stable {
		return nil
	}
	return d.patch(ctx, promoteFullPatch, true)
}

// Abort is `kubectl argo rollouts abort`.
func (d *Driver) Abort(ctx context.Context) error { return d.patch(ctx, abortPatch, true) }

// Retry is `kubectl argo rollouts retry rollout`.
func (d *Driver) Retry(ctx context.Context) error { return d.patch(ctx, retryPatch, true) }

func (d *Driver) patch(ctx context.Context, patch string, status bool) error {
	var subresources []string
	if status {
		subresources = []string{"status"}
	}
	_, err := d.Client.Resource(Rollouts).Namespace(d.Namespace).Patch(ctx, d.Rollout, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, subresources...)
	if err != nil {
		return fmt.Errorf("patching Rollout %s with %s: %w", d.Rollout, patch, err)
	}
	return nil
}

// WaitHealthy waits until the Rollout reports phase Healthy for its current
// generation, or the deadline passes.
func (d *Driver) WaitHealthy(ctx context.Context, deadline time.Duration) error {
	return d.waitRollout(ctx, deadline, "Healthy", func(ro *unstructured.Unstructured) bool {
		phase, _, _ := unstructured.NestedString(ro.Object, "status", "phase")
		observed, _, _ := unstructured.NestedString(ro.Object, "status", "observedGeneration")
		return phase == "Healthy" && observed == fmt.Sprint(ro.GetGeneration())
	})
}

// waitRollout watches the Rollout until done holds.
func (d *Driver) waitRollout(ctx context.Context, deadline time.Duration, what string, done func(*unstructured.Unstructured) bool) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	rollouts := d.Client.Resource(Rollouts).Namespace(d.Namespace)
	var last *unstructured.Unstructured
	for {
		list, err := rollouts.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + d.Rollout})
		if err != nil {
			return d.waitError(ctx, what, deadline, last, err)
		}
		if len(list.Items) == 1 {
			last = &list.Items[0]
			if done(last) {
				return nil
			}
		}
		w, err := rollouts.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + d.Rollout, ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			return d.waitError(ctx, what, deadline, last, err)
		}
		for event := range w.ResultChan() {
			if event.Type == watch.Error {
				break
			}
			if ro, ok := event.Object.(*unstructured.Unstructured); ok && event.Type != watch.Deleted {
				last = ro
				if done(ro) {
					w.Stop()
					return nil
				}
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return d.waitError(ctx, what, deadline, last, ctx.Err())
		}
	}
}

func (d *Driver) waitError(ctx context.Context, what string, deadline time.Duration, last *unstructured.Unstructured, err error) error {
	state := "it does not exist"
	if last != nil {
		phase, _, _ := unstructured.NestedString(last.Object, "status", "phase")
		message, _, _ := unstructured.NestedString(last.Object, "status", "message")
		state = fmt.Sprintf("phase %q, message %q", phase, message)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("Rollout %s/%s not %s after %s: %s", d.Namespace, d.Rollout, what, deadline, state)
	}
	return fmt.Errorf("waiting for Rollout %s/%s to be %s (%s): %w", d.Namespace, d.Rollout, what, state, err)
}

// Cleanup deletes what Apply made (the Rollout's ReplicaSets, pods and
// AnalysisRuns go with it by owner reference) and waits until the pods are
// gone, so that the next scenario starts from nothing.
func (d *Driver) Cleanup(ctx context.Context, deadline time.Duration) error {
	var errs []error
	background := metav1.DeletePropagationForeground
	for _, obj := range d.Objects {
		err := d.resource(obj).Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &background})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", obj.GetKind(), obj.GetName(), err))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	for _, obj := range d.Objects {
		if err := d.waitGone(ctx, obj); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *Driver) waitGone(ctx context.Context, obj Object) error {
	resource := d.resource(obj)
	for {
		list, err := resource.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + obj.GetName()})
		if err != nil {
			return fmt.Errorf("waiting for %s %s to be deleted: %w", obj.GetKind(), obj.GetName(), err)
		}
		if len(list.Items) == 0 {
			return nil
		}
		w, err := resource.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + obj.GetName(), ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			return fmt.Errorf("waiting for %s %s to be deleted: %w", obj.GetKind(), obj.GetName(), err)
		}
		for event := range w.ResultChan() {
			if event.Type == watch.Deleted {
				w.Stop()
				return nil
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s still exists after the cleanup deadline", obj.GetKind(), obj.GetName())
		}
	}
}

// NewMapper finds resources through the API server's discovery, as kubectl
// does; it asks once and on a kind it has not seen.
func NewMapper(config *rest.Config) (meta.RESTMapper, error) {
	client, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("the API server's discovery: %w", err)
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client)), nil
}
