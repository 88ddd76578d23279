package cli

import (
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/canarylab/canarylab/cluster/kind/platform"
	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/cluster/local/controlplane"
)

// components flattens the backends' components: "backend/name" → version.
func components(v versionInfo) map[string]string {
	all := map[string]string{}
	for _, backend := range v.Backends {
		for _, c := range backend.Components {
			all[backend.Backend+"/"+c.Name] = c.Version
		}
	}
	return all
}

func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	deps := []*debug.Module{
		{Path: "github.com/argoproj/argo-rollouts", Version: "v1.10.1"},
		{Path: "github.com/fluxcd/flagger", Version: "v1.44.0"},
		{Path: "github.com/prometheus/prometheus", Version: "v0.316.0", Replace: &debug.Module{Path: "../prometheus"}},
		{Path: "sigs.k8s.io/kind", Version: "v0.33.0"},
	}
	tests := []struct {
		name      string
		info      *debug.BuildInfo
		wantFirst string
		modified  bool
	}{
		{"a release", &debug.BuildInfo{GoVersion: "go1.26.7", Main: debug.Module{Version: "v1.2.0"}, Deps: deps},
			"canarylab v1.2.0", false},
		{"a clean clone", &debug.BuildInfo{GoVersion: "go1.26.7", Main: debug.Module{Version: "(devel)"}, Deps: deps, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "c6ff06d0123456789abcdef0123456789abcdef0"},
			{Key: "vcs.time", Value: "2026-12-02T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			"canarylab (devel) commit c6ff06d01234 (2026-12-02T10:00:00Z)", false},
		{"a dirty tree", &debug.BuildInfo{GoVersion: "go1.26.7", Main: debug.Module{Version: "(devel)"}, Deps: deps, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "c6ff06d0123456789abcdef0123456789abcdef0"}, {Key: "vcs.modified", Value: "true"}}},
			"canarylab (devel) commit c6ff06d01234 (modified)", true},
		{"a pseudo-version of a dirty tree", &debug.BuildInfo{GoVersion: "go1.26.7", Main: debug.Module{Version: "v0.0.0-20261202100000-c6ff06d01234+dirty"}, Deps: deps},
			"canarylab v0.0.0-20261202100000-c6ff06d01234+dirty (modified)", true},
		{"go run: no VCS", &debug.BuildInfo{GoVersion: "go1.26.7", Main: debug.Module{Version: "(devel)"}, Deps: deps},
			"canarylab (devel) (no commit recorded: go run, go test or -buildvcs=false)", false},
		{"no build info", nil, "canarylab (devel) (no commit recorded: go run, go test or -buildvcs=false)", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := buildVersions(tc.info)
			if got := v.firstLine(); got != tc.wantFirst {
				t.Errorf("first line %q, want %q", got, tc.wantFirst)
			}
			if v.Modified != tc.modified {
				t.Errorf("modified %v, want %v", v.Modified, tc.modified)
			}
			got := components(v)
			want := map[string]string{
				"sim/argo-rollouts model":                             controlplane.ArgoRolloutsVersion,
				"sim/flagger model":                                   controlplane.FlaggerVersion,
				"local/argo-rollouts controller":                      controlplane.ArgoRolloutsVersion,
				"local/flagger controller":                            controlplane.FlaggerVersion,
				"local/kube-apiserver, controller-manager, scheduler": controlplane.KubernetesVersion,
				"local/etcd":                                          controlplane.EtcdVersion,
				"local/kwok":                                          controlplane.KwokVersion,
				"kind/node image":                                     provision.NodeImage,
				"kind/istio":                                          "1.31.1",
			}
			if tc.info != nil {
				want["sim/argo-rollouts API types"] = "v1.10.1"
				want["sim/flagger API types"] = "v1.44.0"
				want["sim/promql engine"] = "=> ../prometheus"
				want["kind/kind"] = "v0.33.0"
			} else {
				want["sim/argo-rollouts API types"] = unknownVersion
				want["kind/kind"] = unknownVersion
			}
			for key, version := range want {
				if got[key] != version {
					t.Errorf("%s: %q, want %q", key, got[key], version)
				}
			}
		})
	}
}

// The kind pins are versions.yaml's.
func TestVersionKindPins(t *testing.T) {
	t.Parallel()
	pins, err := platform.LoadVersions()
	if err != nil {
		t.Fatal(err)
	}
	got := components(buildVersions(nil))
	if got["kind/argo-rollouts controller"] != pins.ArgoRollouts.Version || got["kind/argo-rollouts image"] != pins.ArgoRollouts.Image ||
		got["kind/istio"] != pins.Istio.Version || got["kind/prometheus image"] != pins.Prometheus.Image {
		t.Errorf("kind components %v, want versions.yaml's %+v", got, pins)
	}
}

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	code, text, stderr := run(t, "version")
	if code != ExitPassed || !strings.HasPrefix(text, "canarylab ") || !strings.Contains(text, "built with go") ||
		!strings.Contains(text, "local    etcd") {
		t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, text, stderr)
	}
	code, flag, _ := run(t, "--version")
	if code != ExitPassed || flag != text {
		t.Errorf("--version: exit %d, stdout:\n%s\nwant what version prints:\n%s", code, flag, text)
	}
	for _, output := range []string{"json", "ndjson"} {
		code, stdout, stderr := run(t, "version", "-o", output)
		var v versionInfo
		if err := json.Unmarshal([]byte(stdout), &v); err != nil || code != ExitPassed {
			t.Fatalf("-o %s: exit %d, %v\n%s\n%s", output, code, err, stdout, stderr)
		}
		if v.Version == "" || !strings.HasPrefix(v.Go, "go") || len(v.Backends) != 3 || v.Backends[0].Backend != "sim" {
			t.Errorf("-o %s: %+v", output, v)
		}
		if output == "ndjson" && strings.Count(stdout, "\n") != 1 {
			t.Errorf("-o ndjson is not one line:\n%s", stdout)
		}
	}
	if code, _, stderr := run(t, "version", "extra"); code != ExitInvalid {
		t.Errorf("version extra: exit %d, want %d; %s", code, ExitInvalid, stderr)
	}
}
