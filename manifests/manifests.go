// Package manifests holds canarylab's Kubernetes YAML: the demo app's and
// the conformance scenarios' objects (read from disk, relative to the
// scenario files), and the kind backend's platform installs, which are
// embedded so that the canarylab binary carries the versions it pins.
package manifests

import "embed"

// Platform holds platform/*.yaml: versions.yaml (every pinned version and
// digest) and the objects canarylab writes itself (Prometheus, the ingress
// Gateway). The platform package installs them.
//
//go:embed platform/*.yaml
var Platform embed.FS
