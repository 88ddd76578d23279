// Package provision creates, reuses and deletes the kind cluster the kind
// backend runs on, with sigs.k8s.io/kind as a library (no kind binary).
// Set-up is a list of named steps, logged as they run and undone on failure
// or interruption unless Options.Keep is set, as controlplane.Up does for
// the local control plane.
package provision

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// NodeImage is the node image every canarylab kind cluster runs: the
// default image of the pinned kind library (sigs.k8s.io/kind v0.33.0,
// pkg/apis/config/defaults/image.go: Kubernetes v1.37.0), the one kind
// v0.33.0 is released and tested with, pinned here with its digest so that
// a kind upgrade changes the Kubernetes version only deliberately.
const NodeImage = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"

// IngressHTTPNodePort is the NodePort of the Istio ingress gateway's http
// port (80). The platform install must give the gateway Service's http port
// this nodePort: kind maps it to Options.HTTPHostPort on 127.0.0.1.
const IngressHTTPNodePort = 30080

// DefaultName is the cluster's name when Options.Name is empty.
const DefaultName = "canarylab"

// DefaultReadyTimeout is how long Up waits for the control plane to be
// ready when Options.ReadyTimeout is zero.
const DefaultReadyTimeout = 5 * time.Minute

// Options of Up, Down and Status.
type Options struct {
	// Name of the kind cluster (default DefaultName). Its nodes are the
	// containers <name>-control-plane, ...; its kube context kind-<name>.
	Name string
	// Dir holds the cluster's kubeconfig and state file.
	Dir string
	// HTTPHostPort is the port on 127.0.0.1 where the ingress gateway's
	// http port is published; 0 picks a free one when the cluster is created.
	HTTPHostPort int
	// ReadyTimeout bounds the wait for the control plane (default
	// DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// Keep leaves a cluster whose set-up failed or was interrupted in place,
	// for debugging.
	Keep bool
	// Reuse runs on an existing cluster of the same name that canarylab did
	// not create. A cluster canarylab created (its state is in Dir) is
	// reused without it.
	Reuse bool
	// Steps run after the cluster is up and its kubeconfig written, in
	// order: platform installs, image loads.
	Steps []Step
	Log   *slog.Logger
	// NewProvider finds the container runtime kind drives; nil is
	// DetectProvider. Tests pass a fake.
	NewProvider func(log *slog.Logger) (Provider, error)
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.NewProvider == nil {
		o.NewProvider = DetectProvider
	}
	return o
}

// validName is what kind accepts as a cluster name
// (kind pkg/internal/apis/config/validate.go, validNameRE), without the
// dots, as the name also names canarylab's directory.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// ValidateName says whether kind accepts name as a cluster name.
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("kind cluster name %q: use lower-case letters, digits and dashes, starting with a letter or digit", name)
	}
	return nil
}

// Config is the kind cluster configuration Up creates the cluster with: one
// control-plane node running NodeImage, with the ingress gateway's http
// NodePort published on 127.0.0.1:HTTPHostPort. A zero HTTPHostPort is left
// out (Up chooses the port before it creates the cluster).
func Config(opts Options) *v1alpha4.Cluster {
	opts = opts.withDefaults()
	return &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{APIVersion: "kind.x-k8s.io/v1alpha4", Kind: "Cluster"},
		Name:     opts.Name,
		Nodes: []v1alpha4.Node{{
			Role:  v1alpha4.ControlPlaneRole,
			Image: NodeImage,
			ExtraPortMappings: []v1alpha4.PortMapping{{
				ContainerPort: IngressHTTPNodePort,
				HostPort:      int32(opts.HTTPHostPort),
				// Loopback only: the cluster is not reachable from the network.
				ListenAddress: "127.0.0.1",
				Protocol:      v1alpha4.PortMappingProtocolTCP,
			}},
		}},
	}
}

// ConfigYAML is Config as the YAML `kind create cluster --config` reads.
func ConfigYAML(opts Options) ([]byte, error) {
	return yaml.Marshal(Config(opts))
}
