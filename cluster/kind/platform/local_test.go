//go:build local

// The objects the platform steps apply are accepted by a real
// kube-apiserver (server-side dry run on the local backend's control plane,
// which serves the Argo Rollouts and Istio CRDs), through the same Applier
// the steps use: what the kind backend installs is checked here, where no
// kind cluster can start. The Istio charts are not: they need the network.
// `go test -tags local ./cluster/kind/platform/`.
package platform

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/canarylab/canarylab/cluster/local/controlplane"
	"github.com/canarylab/canarylab/cluster/local/controlplane/controlplanetest"
)

func TestPlatformObjectsAreAcceptedByARealAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	state := controlplanetest.Cluster(t, ctx)
	config, err := state.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	applier, err := NewApplier(config, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A dry run does not create namespaces, and the apiserver refuses
	// objects in a namespace that does not exist: create them for real.
	for _, namespace := range []string{ArgoRolloutsNamespace, IstioNamespace} {
		if err := applier.Apply(ctx, namespaceObject(namespace)); err != nil {
			t.Fatal(err)
		}
	}
	applier.DryRun = true

	v := versions(t)
	argo, err := ArgoRolloutsObjects(ctx, v, &controlplane.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	prometheus, err := PrometheusObjects(v)
	if err != nil {
		t.Fatal(err)
	}
	gateway, err := GatewayObjects()
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name    string
		objects []*unstructured.Unstructured
	}{{StepArgoRollouts, argo}, {StepPrometheus, prometheus}, {StepIstioGateway + " (canarylab-gateway)", gateway}} {
		if err := applier.Install(ctx, step.name, step.objects, time.Minute); err != nil {
			t.Errorf("%s: %v", step.name, err)
			continue
		}
		t.Logf("%s: %d objects accepted (server-side dry run)", step.name, len(step.objects))
	}
}
