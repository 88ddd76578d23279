package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/cluster/kind/platform"
	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/cluster/local/controlplane"
	"github.com/canarylab/canarylab/sim"
)

// versionInfo is what canarylab version says: the build, and the versions
// of what each backend runs.
type versionInfo struct {
	// Version is the module version the binary was built at: a release
	// tag (go install ...@v1.2.0), a pseudo-version the go command made
	// from the VCS, or "(devel)".
	Version string `json:"version"`
	// Commit, CommitTime and Modified come from the VCS at build time
	// (go build in a clone); they are empty when it did not stamp them
	// (go run, go test, -buildvcs=false).
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commitTime,omitempty"`
	// Modified: the working tree had changes not committed (dirty).
	Modified bool              `json:"modified"`
	Go       string            `json:"go"`
	Platform string            `json:"platform"`
	Backends []backendVersions `json:"backends"`
}

// backendVersions are the pinned versions of what one backend runs.
type backendVersions struct {
	Backend    string      `json:"backend"`
	Components []component `json:"components"`
}

// component is one pinned piece: a controller, a model of one, a module.
type component struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// From says where the version is pinned.
	From string `json:"from"`
}

// unknownVersion is a version the build info does not hold.
const unknownVersion = "unknown"

// buildVersions reads the versions from the build info (nil when the
// binary has none) and canarylab's pins.
func buildVersions(info *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	deps := map[string]string{}
	if info != nil {
		if info.Main.Version != "" {
			v.Version = info.Main.Version
		}
		if info.GoVersion != "" {
			v.Go = info.GoVersion
		}
		for _, setting := range info.Settings {
			switch setting.Key {
			case "vcs.revision":
				v.Commit = setting.Value
			case "vcs.time":
				v.CommitTime = setting.Value
			case "vcs.modified":
				v.Modified = setting.Value == "true"
			}
		}
		for _, dep := range info.Deps {
			version := dep.Version
			if dep.Replace != nil {
				version = dep.Replace.Version
				if version == "" {
					version = "=> " + dep.Replace.Path // a local replacement
				}
			}
			deps[dep.Path] = version
		}
	}
	// A version the go command made from a dirty tree ends in +dirty.
	if strings.HasSuffix(v.Version, "+dirty") {
		v.Modified = true
	}
	module := func(path string) string {
		if version, ok := deps[path]; ok && version != "" {
			return version
		}
		return unknownVersion
	}
	const buildInfo = "build info: module "
	v.Backends = append(v.Backends, backendVersions{Backend: sim.Name, Components: []component{
		{"argo-rollouts model", controlplane.ArgoRolloutsVersion, "the controller version the model reproduces (= the local backend's)"},
		{"argo-rollouts API types", module("github.com/argoproj/argo-rollouts"), buildInfo + "github.com/argoproj/argo-rollouts"},
		{"flagger model", controlplane.FlaggerVersion, "the controller version the model reproduces (= the local backend's)"},
		{"flagger API types", module("github.com/fluxcd/flagger"), buildInfo + "github.com/fluxcd/flagger"},
		{"promql engine", module("github.com/prometheus/prometheus"), buildInfo + "github.com/prometheus/prometheus"},
	}})
	v.Backends = append(v.Backends, backendVersions{Backend: "local", Components: []component{
		{"argo-rollouts controller", controlplane.ArgoRolloutsVersion, "controlplane.ArgoRolloutsVersion"},
		{"flagger controller", controlplane.FlaggerVersion, "controlplane.FlaggerVersion"},
		{"kube-apiserver, controller-manager, scheduler", controlplane.KubernetesVersion, "controlplane.KubernetesVersion"},
		{"etcd", controlplane.EtcdVersion, "controlplane.EtcdVersion"},
		{"kwok", controlplane.KwokVersion, "controlplane.KwokVersion"},
		{"istio API (CRDs)", controlplane.IstioAPIVersion, "controlplane.IstioAPIVersion"},
	}})
	kind := backendVersions{Backend: "kind", Components: []component{
		{"kind", module("sigs.k8s.io/kind"), buildInfo + "sigs.k8s.io/kind"},
		{"node image", provision.NodeImage, "provision.NodeImage"},
	}}
	if pins, err := platform.LoadVersions(); err != nil {
		kind.Components = append(kind.Components, component{"platform", unknownVersion, err.Error()})
	} else {
		kind.Components = append(kind.Components,
			component{"argo-rollouts controller", pins.ArgoRollouts.Version, platform.VersionsFile + " argoRollouts.version"},
			component{"argo-rollouts image", pins.ArgoRollouts.Image, platform.VersionsFile + " argoRollouts.image"},
			component{"istio", pins.Istio.Version, platform.VersionsFile + " istio.version"},
			component{"prometheus image", pins.Prometheus.Image, platform.VersionsFile + " prometheus.image"})
	}
	v.Backends = append(v.Backends, kind)
	return v
}

// firstLine is "canarylab v1.2.0" or "canarylab (devel) commit 1a2b3c4d5e6f
// (2026-12-02T10:00:00Z, modified)": what --version prints first.
func (v versionInfo) firstLine() string {
	line := "canarylab " + v.Version
	if v.Commit != "" {
		commit := v.Commit
		if len(commit) > 12 {
			commit = commit[:12]
		}
		line += " commit " + commit
	}
	var notes []string
	if v.CommitTime != "" {
		notes = append(notes, v.CommitTime)
	}
	if v.Modified {
		notes = append(notes, "modified")
	}
	if v.Commit == "" && v.Version == "(devel)" {
		notes = append(notes, "no commit recorded: go run, go test or -buildvcs=false")
	}
	if len(notes) > 0 {
		line += " (" + strings.Join(notes, ", ") + ")"
	}
	return line
}

// writeText writes the version for people: the build, then a table of
// what each backend runs (where each is pinned is in the JSON).
func (v versionInfo) writeText(w io.Writer) error {
	fmt.Fprintln(w, v.firstLine())
	fmt.Fprintf(w, "built with %s for %s\n\n", v.Go, v.Platform)
	table := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(table, "BACKEND\tCOMPONENT\tVERSION")
	for _, backend := range v.Backends {
		for _, c := range backend.Components {
			fmt.Fprintf(table, "%s\t%s\t%s\n", backend.Backend, c.Name, c.Version)
		}
	}
	return table.Flush()
}

// printVersion writes the version in the output format: text, or one JSON
// object (indented for json, a line for ndjson).
func printVersion(w io.Writer, output string) error {
	info, _ := debug.ReadBuildInfo()
	v := buildVersions(info)
	switch output {
	case outputJSON:
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(data, '\n'))
		return err
	case outputNDJSON:
		return writeJSONLine(w, v)
	}
	return v.writeText(w)
}

func newVersionCommand(streams Streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "The build (module version, commit, Go) and the controller versions each backend runs",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &usageError{fmt.Errorf("version takes no arguments, got %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return printVersion(streams.Out, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputText, "output: text, json (one JSON object) or ndjson (the same on one line)")
	return cmd
}
