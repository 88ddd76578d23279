//go:build local

// Every manifest under manifests/ is accepted by a real kube-apiserver with
// the Argo Rollouts and Istio CRDs (server-side dry run on the local
// backend's control plane): what the kind backend will apply is checked
// here, where no kind cluster can start. `go test -tags local ./manifests/`
// (Taskfile: task local).
package manifests_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/canarylab/canarylab/cluster/local/controlplane/controlplanetest"
)

func TestManifestsAreAcceptedByARealAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	state := controlplanetest.Cluster(t, ctx)
	config, err := state.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))

	checked := 0
	err = filepath.WalkDir(".", func(path string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() || (!strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml")) {
			return err
		}
		if path == filepath.Join("platform", "versions.yaml") {
			return nil // the pinned versions, not objects (the platform package checks it)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var content map[string]any
			if err := decoder.Decode(&content); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				t.Errorf("%s: %v", path, err)
				return nil
			}
			if len(content) == 0 {
				continue
			}
			obj := &unstructured.Unstructured{Object: content}
			gvk := obj.GroupVersionKind()
			mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Errorf("%s: %s %s: the apiserver does not know the kind: %v", path, gvk, obj.GetName(), err)
				continue
			}
			var resource dynamic.ResourceInterface = client.Resource(mapping.Resource)
			if mapping.Scope.Name() == "namespace" {
				ns := obj.GetNamespace()
				if ns == "" {
					ns = "default"
				}
				resource = client.Resource(mapping.Resource).Namespace(ns)
			}
			_, err = resource.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "canarylab-test", Force: true, DryRun: []string{metav1.DryRunAll}})
			if err != nil && isMissingNamespace(err) {
				// The platform install creates its namespace first: do
				// that for real, then check the object.
				namespace := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": obj.GetNamespace()}}}
				namespaces := client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})
				if _, createErr := namespaces.Apply(ctx, obj.GetNamespace(), namespace, metav1.ApplyOptions{FieldManager: "canarylab-test"}); createErr != nil {
					t.Fatalf("creating namespace %s: %v", obj.GetNamespace(), createErr)
				}
				_, err = resource.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "canarylab-test", Force: true, DryRun: []string{metav1.DryRunAll}})
			}
			if err != nil {
				t.Errorf("%s: %s %s refused: %v", path, gvk.Kind, obj.GetName(), err)
			}
			checked++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no manifest was checked")
	}
	t.Logf("%d objects accepted", checked)
}

func isMissingNamespace(err error) bool {
	return strings.Contains(err.Error(), "namespaces \"") && strings.Contains(err.Error(), "not found")
}
