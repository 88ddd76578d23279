//go:build kind

// Tests on a real kind cluster: they need Docker and the node image (pulled
// from its registry on first use, ~1 GB). go test -tags kind ./cluster/kind/provision/
// Set CANARYLAB_KEEP=1 to keep a cluster whose test failed.

package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func realOptions(t *testing.T) Options {
	t.Helper()
	suffix := make([]byte, 3)
	rand.Read(suffix)
	return Options{Name: "canarylab-test-" + hex.EncodeToString(suffix), Dir: t.TempDir(), Keep: os.Getenv("CANARYLAB_KEEP") == "1"}
}

// Up creates a cluster whose kubeconfig reaches a Ready node and whose
// ingress port is published on 127.0.0.1; a second Up reuses it; Down
// deletes it.
func TestKindUpStatusDown(t *testing.T) {
	opts := realOptions(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	state, err := Up(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if opts.Keep && t.Failed() {
			t.Logf("kept kind cluster %s (CANARYLAB_KEEP=1), kubeconfig %s", opts.Name, state.Kubeconfig)
			return
		}
		if _, err := Down(opts); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	config, err := clientcmd.BuildConfigFromFlags("", state.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes %v, %v; want one", nodes, err)
	}
	ready := false
	for _, condition := range nodes.Items[0].Status.Conditions {
		ready = ready || (condition.Type == "Ready" && condition.Status == "True")
	}
	if !ready {
		t.Errorf("node %s not Ready: %+v", nodes.Items[0].Name, nodes.Items[0].Status.Conditions)
	}
	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", state.HTTPHostPort), 5*time.Second); err != nil {
		t.Errorf("the ingress port is not published: %v", err)
	} else {
		conn.Close()
	}
	status, err := Status(opts)
	if err != nil || len(status) != 1 || status[0].Role != "control-plane" {
		t.Errorf("status %+v, %v", status, err)
	}
	again, err := Up(ctx, opts)
	if err != nil || !again.Created || again.HTTPHostPort != state.HTTPHostPort {
		t.Errorf("second Up: %+v, %v; want the same cluster reused", again, err)
	}
	if result, err := Down(opts); err != nil || result != Deleted {
		t.Fatalf("down: %v, %v", result, err)
	}
	if status, err := Status(opts); err != nil || len(status) != 0 {
		t.Errorf("after down: %+v, %v", status, err)
	}
}

// A caller's step that fails deletes the cluster Up created.
func TestKindFailingStepDeletesTheCluster(t *testing.T) {
	opts := realOptions(t)
	opts.Keep = false
	opts.Steps = []Step{{Name: "platform", Run: func(context.Context, *State) error { return errors.New("planned failure") }}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := Up(ctx, opts); err == nil {
		t.Fatal("Up did not fail")
	}
	provider, err := connect(opts.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if clusters, err := provider.List(); err != nil || slices.Contains(clusters, opts.Name) {
		t.Errorf("clusters %v, %v: %s was not deleted", clusters, err, opts.Name)
	}
}
