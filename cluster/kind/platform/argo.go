package platform

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarylab/canarylab/cluster/local/controlplane"
)

// ArgoRolloutsNamespace is where the controller runs, as in its install
// guide.
const ArgoRolloutsNamespace = "argo-rollouts"

// ArgoRolloutsObjects reads the pinned install manifest from the Argo
// Rollouts Go module (downloaded into the module cache if needed), checks
// its sha256 against versions.yaml, and returns its objects ready to apply:
// the namespace first, namespaced objects in it, the controller's image
// replaced by the pinned one.
func ArgoRolloutsObjects(ctx context.Context, v *Versions, builder *controlplane.Builder) ([]*unstructured.Unstructured, error) {
	pin := v.ArgoRollouts
	what := fmt.Sprintf("the Argo Rollouts install manifest (%s@%s %s)", pin.Module, pin.Version, pin.Manifest)
	if pin.SHA256 == "" || pin.SHA256 == DigestTODO {
		return nil, missingDigest(what, "argoRollouts.sha256", pin.SHA256)
	}
	dir, err := builder.ModuleDir(ctx, pin.Module, pin.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(pin.Manifest)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := VerifyDigest(what, "argoRollouts.sha256", data, pin.SHA256); err != nil {
		return nil, err
	}
	objects, err := decodeObjects(pin.Module+"@"+pin.Version+"/"+pin.Manifest, data)
	if err != nil {
		return nil, err
	}
	if err := pinImage(objects, "Deployment", "argo-rollouts", "argo-rollouts", pin.Image); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	inNamespace(objects, ArgoRolloutsNamespace)
	return append([]*unstructured.Unstructured{namespaceObject(ArgoRolloutsNamespace)}, objects...), nil
}

// pinImage sets the image of the named container of the named workload,
// pulled only when the node does not have it (the manifest in the Argo
// Rollouts module says Always, for its :latest).
func pinImage(objects []*unstructured.Unstructured, kind, name, container, image string) error {
	for _, obj := range objects {
		if obj.GetKind() != kind || obj.GetName() != name {
			continue
		}
		containers, _, err := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
		if err != nil {
			return fmt.Errorf("%s: %w", describe(obj), err)
		}
		for i, entry := range containers {
			c, ok := entry.(map[string]any)
			if !ok || c["name"] != container {
				continue
			}
			c["image"] = image
			c["imagePullPolicy"] = "IfNotPresent"
			containers[i] = c
			return unstructured.SetNestedSlice(obj.Object, containers, "spec", "template", "spec", "containers")
		}
		return fmt.Errorf("%s has no container %q", describe(obj), container)
	}
	return fmt.Errorf("no %s %q", kind, name)
}
