package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	nodes      = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	namespaces = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	crds       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// RESTConfig is the client configuration of a running cluster.
func (s *State) RESTConfig() (*rest.Config, error) {
	config, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig %s: %w", s.Kubeconfig, err)
	}
	config.QPS, config.Burst = 50, 100
	return config, nil
}

func (c *cluster) dynamicClient() (dynamic.Interface, error) {
	config, err := c.state.RESTConfig()
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(config)
}

// apply server-side applies an object (canarylab is the field manager).
func apply(ctx context.Context, client dynamic.Interface, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	resource := client.Resource(gvr)
	var target dynamic.ResourceInterface = resource
	if ns := obj.GetNamespace(); ns != "" {
		target = resource.Namespace(ns)
	}
	_, err := target.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: "canarylab", Force: true})
	return err
}

// createNode registers the fake node kwok manages, and waits for it Ready.
func (c *cluster) createNode(ctx context.Context) error {
	client, err := c.dynamicClient()
	if err != nil {
		return err
	}
	node := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": "canarylab-node", "annotations": map[string]any{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			"labels": map[string]any{"kubernetes.io/hostname": "canarylab-node", "type": "kwok"}},
		"spec":   map[string]any{},
		"status": map[string]any{"allocatable": map[string]any{"cpu": "64", "memory": "256Gi", "pods": "500"}, "capacity": map[string]any{"cpu": "64", "memory": "256Gi", "pods": "500"}},
	}}
	if err := apply(ctx, client, nodes, node); err != nil {
		return fmt.Errorf("creating the fake node: %w", err)
	}
	for _, ns := range []string{"argo-rollouts"} {
		namespace := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
		if err := apply(ctx, client, namespaces, namespace); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	kwok := c.running[len(c.running)-1]
	return waitFor(ctx, kwok, "fake node", c.deadline(60*time.Second), func() error {
		got, err := client.Resource(nodes).Get(ctx, "canarylab-node", metav1.GetOptions{})
		if err != nil {
			return err
		}
		conditions, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, condition := range conditions {
			if m, ok := condition.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
				return nil
			}
		}
		return errors.New("node canarylab-node is not Ready yet")
	})
}

// applyCRDs installs the Argo Rollouts CRDs and Istio's from the pinned
// modules (the controller checks for Istio's at start), and waits until
// they are established.
func (c *cluster) applyCRDs(ctx context.Context) error {
	argoDir, err := c.opts.Builder.ModuleDir(ctx, "github.com/argoproj/argo-rollouts", ArgoRolloutsVersion)
	if err != nil {
		return err
	}
	istioDir, err := c.opts.Builder.ModuleDir(ctx, "istio.io/api", IstioAPIVersion)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(argoDir, "manifests", "crds", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %s/manifests/crds", argoDir)
	}
	sort.Strings(files)
	files = append(files, filepath.Join(istioDir, "kubernetes", "customresourcedefinitions.gen.yaml"))
	client, err := c.dynamicClient()
	if err != nil {
		return err
	}
	var names []string
	for _, file := range files {
		objects, err := readObjects(file)
		if err != nil {
			return err
		}
		for _, obj := range objects {
			if obj.GetKind() != "CustomResourceDefinition" {
				continue
			}
			if err := apply(ctx, client, crds, obj); err != nil {
				return fmt.Errorf("applying CRD %s from %s: %w", obj.GetName(), file, err)
			}
			names = append(names, obj.GetName())
		}
	}
	apiserver := c.running[1]
	return waitFor(ctx, apiserver, "CRDs", c.deadline(60*time.Second), func() error {
		return crdsEstablished(ctx, client, names)
	})
}

// readObjects decodes every object of a multi-document YAML file.
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objects []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := decoder.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(obj) == 0 {
			continue
		}
		objects = append(objects, &unstructured.Unstructured{Object: obj})
	}
}
