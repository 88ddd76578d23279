package platform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/canarylab/canarylab/manifests"
)

// decodeObjects decodes every object of a multi-document YAML text; source
// names the text in errors.
func decodeObjects(source string, data []byte) ([]*unstructured.Unstructured, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objects []*unstructured.Unstructured
	for document := 1; ; document++ {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, fmt.Errorf("%s, document %d: %w", source, document, err)
		}
		if trimmed := bytes.TrimSpace(raw); len(trimmed) == 0 || string(trimmed) == "null" {
			continue // an empty document: a comment, or a template that rendered nothing
		}
		// Numbers as the API machinery has them (int64 where whole), not
		// encoding/json's float64.
		var content map[string]any
		if err := utiljson.Unmarshal(raw, &content); err != nil {
			return nil, fmt.Errorf("%s, document %d: %w", source, document, err)
		}
		if len(content) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: content}
		if obj.GetAPIVersion() == "" || obj.GetKind() == "" || obj.GetName() == "" {
			return nil, fmt.Errorf("%s, document %d: not a Kubernetes object (apiVersion %q, kind %q, name %q)",
				source, document, obj.GetAPIVersion(), obj.GetKind(), obj.GetName())
		}
		objects = append(objects, obj)
	}
}

// embedded decodes one of the YAML files of manifests/platform.
func embedded(name string) ([]*unstructured.Unstructured, error) {
	data, err := manifests.Platform.ReadFile("platform/" + name)
	if err != nil {
		return nil, err
	}
	return decodeObjects("manifests/platform/"+name, data)
}

// clusterScoped are the kinds of the installs that live outside namespaces.
// Objects are given their namespace before they meet a cluster (so that
// they can be listed and tested offline); the apiserver's own scope decides
// at apply time, and disagrees only for a kind missing here.
var clusterScoped = map[schema.GroupKind]bool{
	{Kind: "Namespace"}: true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                         true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                  true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                   true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                                true,
}

func isClusterScoped(obj *unstructured.Unstructured) bool {
	return clusterScoped[obj.GroupVersionKind().GroupKind()]
}

// inNamespace puts every namespaced object that has no namespace into
// namespace, as `kubectl apply -n` and `helm install -n` do.
func inNamespace(objects []*unstructured.Unstructured, namespace string) {
	for _, obj := range objects {
		if obj.GetNamespace() == "" && !isClusterScoped(obj) {
			obj.SetNamespace(namespace)
		}
	}
}

// namespaceObject is a Namespace named name.
func namespaceObject(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name},
	}}
}

// installOrder is Helm's order of kinds (namespaces, service accounts,
// config, CRDs, RBAC, services, workloads), then the admission webhooks,
// which Helm leaves among the kinds it does not know.
var installOrder = append(slices.Clone(releaseutil.InstallOrder), "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")

// sortForInstall orders objects by installOrder, with the kinds it does
// not know (custom resources) last, keeping the given order otherwise.
func sortForInstall(objects []*unstructured.Unstructured) {
	rank := func(obj *unstructured.Unstructured) int {
		if i := slices.Index(installOrder, obj.GetKind()); i >= 0 {
			return i
		}
		return len(installOrder)
	}
	slices.SortStableFunc(objects, func(a, b *unstructured.Unstructured) int { return rank(a) - rank(b) })
}

// describe names an object in messages: Kind namespace/name.
func describe(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() != "" {
		return obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
	}
	return obj.GetKind() + " " + obj.GetName()
}
