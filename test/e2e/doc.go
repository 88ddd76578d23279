// Package e2e runs the scenario catalog on the kind backend, end to end:
// a kind cluster with Istio, Prometheus and the real Argo Rollouts
// controller, the fixture app's images, real load through the ingress
// gateway. It needs Docker and registry access, and is behind a build tag:
//
//	go test -tags e2e -timeout 90m ./test/e2e/
//
// The suite brings the cluster up before the first spec and deletes it at
// the end (CANARYLAB_KEEP=1 keeps it); every catalog file is a spec, whose
// Result must pass. Reports go to report/kind at the repository's root
// (CANARYLAB_REPORT_DIR).
package e2e
