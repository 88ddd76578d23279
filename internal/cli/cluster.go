package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/cluster/local/controlplane"
	"github.com/canarylab/canarylab/runner"
)

type clusterFlags struct {
	provider string
	dir      string
	cacheDir string
	binDir   string
	keep     bool
	// local only
	flagger bool
	// kind only
	name     string
	reuse    bool
	dryRun   bool
	httpPort int
}

func newClusterCommand(streams Streams) *cobra.Command {
	flags := &clusterFlags{}
	cmd := &cobra.Command{
		Use:   "cluster up|down|status",
		Short: "Manage the cluster the local or kind backend runs on",
		Long: `With --provider local (the default), cluster up starts a real kube-apiserver, etcd,
controller-manager, scheduler, kwok and the Argo Rollouts controller as local processes,
built from their Go modules on first use (measured 10.5 minutes on 2 idle cores, 31 on 2
busy ones; then cached by version under the cache directory). Point CANARYLAB_ETCD, CANARYLAB_KUBE_APISERVER, ...
or --bin-dir at binaries you already have.

With --provider kind, cluster up creates a kind cluster (needs Docker and image
registries) with the ingress gateway's http port published on 127.0.0.1, and writes its
kubeconfig to the cluster's directory. --dry-run prints the steps and the kind config.

Flagger (v1.44.0) is only built when a flagger scenario first runs on local, or when
cluster up --flagger asks for it ahead of time (about 2.5 minutes on 2 cores, then cached;
CANARYLAB_FLAGGER points at a binary you have). --flagger also applies Flagger's CRDs.
Each flagger run starts its own Flagger controller, pointed at its own data plane.`,
	}
	cmd.PersistentFlags().StringVar(&flags.provider, "provider", "local", "local (processes) or kind (Docker)")
	cmd.PersistentFlags().StringVar(&flags.dir, "dir", "", "the cluster's directory (default: <cache dir>/local-cluster, or <cache dir>/kind-<name>)")
	cmd.PersistentFlags().StringVar(&flags.cacheDir, "cache-dir", "", "where built binaries are cached (default: the user cache directory/canarylab)")
	cmd.PersistentFlags().StringVar(&flags.binDir, "bin-dir", "", "local: use the binaries in this directory when present")
	cmd.PersistentFlags().StringVar(&flags.name, "name", provision.DefaultName, "kind: the cluster's name")
	up := &cobra.Command{Use: "up", Short: "Start the cluster", RunE: func(cmd *cobra.Command, _ []string) error {
		if err := flags.resolve(cmd); err != nil {
			return err
		}
		if flags.provider == "kind" {
			return kindUp(cmd, streams, flags)
		}
		log := slog.New(slog.NewTextHandler(streams.Err, nil))
		builder := &controlplane.Builder{CacheDir: flags.cacheDir, BinDir: flags.binDir, Overrides: controlplane.OverridesFrom(os.Getenv), Log: log}
		state, err := controlplane.Up(cmd.Context(), controlplane.Options{Dir: flags.dir, Log: log, Builder: builder})
		if err != nil {
			return fmt.Errorf("%w: %w", runner.ErrBackend, err)
		}
		fmt.Fprintf(streams.Out, "local cluster up: %s\nkubeconfig: %s\n", state.Server, state.Kubeconfig)
		if flags.flagger {
			binary, err := controlplane.InstallFlagger(cmd.Context(), state, builder)
			if err != nil {
				return fmt.Errorf("%w: flagger: %w", runner.ErrBackend, err)
			}
			fmt.Fprintf(streams.Out, "flagger %s: %s (CRDs applied; each flagger run starts its own controller)\n", controlplane.FlaggerVersion, binary)
		}
		return nil
	}}
	up.Flags().BoolVar(&flags.flagger, "flagger", false, "local: also build (or find) Flagger "+controlplane.FlaggerVersion+" and apply its CRDs")
	up.Flags().BoolVar(&flags.keep, "keep", false, "kind: keep a cluster whose set-up failed or was interrupted (to debug it)")
	up.Flags().BoolVar(&flags.reuse, "reuse", false, "kind: run on an existing cluster of this name that canarylab did not create")
	up.Flags().BoolVar(&flags.dryRun, "dry-run", false, "kind: print the steps and the kind config, create nothing")
	up.Flags().IntVar(&flags.httpPort, "http-port", 0, "kind: port on 127.0.0.1 for the ingress gateway's http port (default: a free one)")
	status := &cobra.Command{Use: "status", Short: "Say whether the cluster runs", RunE: func(cmd *cobra.Command, _ []string) error {
		if err := flags.resolve(cmd); err != nil {
			return err
		}
		if flags.provider == "kind" {
			return kindStatus(streams, flags)
		}
		state, err := controlplane.ReadState(flags.dir)
		if err != nil {
			fmt.Fprintf(streams.Out, "no local cluster in %s\n", flags.dir)
			return nil
		}
		for _, p := range state.Processes {
			fmt.Fprintf(streams.Out, "%-24s pid %-8d %s\n", p.Name, p.PID, map[bool]string{true: "running", false: "stopped"}[controlplane.ProcessAlive(p.PID)])
		}
		if !state.Running() {
			return fmt.Errorf("%w: the local cluster in %s is not fully running; `canarylab cluster down` cleans it up", runner.ErrBackend, flags.dir)
		}
		fmt.Fprintf(streams.Out, "kubeconfig: %s\n", state.Kubeconfig)
		return nil
	}}
	down := &cobra.Command{Use: "down", Short: "Stop the cluster and remove its data (local: unless --keep)", RunE: func(cmd *cobra.Command, _ []string) error {
		if err := flags.resolve(cmd); err != nil {
			return err
		}
		if flags.provider == "kind" {
			return kindDown(streams, flags)
		}
		if err := controlplane.Down(flags.dir, flags.keep); err != nil {
			return fmt.Errorf("%w: %w", runner.ErrBackend, err)
		}
		fmt.Fprintf(streams.Out, "local cluster in %s is down\n", flags.dir)
		return nil
	}}
	down.Flags().BoolVar(&flags.keep, "keep", false, "local: keep the cluster's directory (logs, etcd data)")
	cmd.AddCommand(up, status, down)
	return cmd
}

// resolve checks the flags against the provider and fills in defaults.
func (f *clusterFlags) resolve(cmd *cobra.Command) error {
	onlyFor := map[string][]string{
		"local": {"bin-dir", "flagger"},
		"kind":  {"name", "reuse", "dry-run", "http-port"},
	}
	if cmd.Name() == "up" {
		onlyFor["kind"] = append(onlyFor["kind"], "keep")
	} else {
		onlyFor["local"] = append(onlyFor["local"], "keep")
	}
	other := map[string]string{"local": "kind", "kind": "local"}[f.provider]
	if other == "" {
		return &usageError{fmt.Errorf("--provider %q: use local or kind", f.provider)}
	}
	for _, flag := range onlyFor[other] {
		if cmd.Flags().Changed(flag) {
			return &usageError{fmt.Errorf("--%s is for --provider %s, not %s", flag, other, f.provider)}
		}
	}
	if f.provider == "kind" {
		if err := provision.ValidateName(f.name); err != nil {
			return &usageError{fmt.Errorf("--name: %w", err)}
		}
		if f.httpPort < 0 || f.httpPort > 65535 {
			return &usageError{fmt.Errorf("--http-port %d: use a port number, or 0 for a free one", f.httpPort)}
		}
	}
	if f.cacheDir == "" {
		dir, err := controlplane.DefaultCacheDir()
		if err != nil {
			return err
		}
		f.cacheDir = dir
	}
	if f.dir != "" {
		return nil
	}
	f.dir = filepath.Join(f.cacheDir, "local-cluster")
	if f.provider == "kind" {
		f.dir = filepath.Join(f.cacheDir, "kind-"+f.name)
	}
	return nil
}

func (f *clusterFlags) kindOptions(streams Streams) provision.Options {
	return provision.Options{Name: f.name, Dir: f.dir, HTTPHostPort: f.httpPort, Keep: f.keep, Reuse: f.reuse,
		Log: slog.New(slog.NewTextHandler(streams.Err, nil))}
}

func kindUp(cmd *cobra.Command, streams Streams, flags *clusterFlags) error {
	opts := flags.kindOptions(streams)
	if flags.dryRun {
		return kindPlan(streams, opts)
	}
	state, err := provision.Up(cmd.Context(), opts)
	if err != nil {
		return fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	how := "created"
	if !state.Created {
		how = "reused; canarylab did not create it"
	}
	fmt.Fprintf(streams.Out, "kind cluster %s up (%s)\nkubeconfig: %s\n", state.Name, how, state.Kubeconfig)
	if state.HTTPHostPort != 0 {
		fmt.Fprintf(streams.Out, "ingress: http://127.0.0.1:%d\n", state.HTTPHostPort)
	}
	return nil
}

// kindPlan prints what `cluster up` would do, touching nothing.
func kindPlan(streams Streams, opts provision.Options) error {
	config, err := provision.ConfigYAML(opts)
	if err != nil {
		return err
	}
	var out strings.Builder
	fmt.Fprintf(&out, "kind cluster %s (dry run: nothing is created)\ndirectory: %s\nsteps:\n", opts.Name, opts.Dir)
	for i, step := range provision.Plan(opts) {
		fmt.Fprintf(&out, "  %d. %s\n", i+1, step)
	}
	out.WriteString("config:\n")
	if opts.HTTPHostPort == 0 {
		out.WriteString("# hostPort: a free port on 127.0.0.1, chosen when the cluster is created (--http-port sets it)\n")
	}
	out.Write(config)
	_, err = fmt.Fprint(streams.Out, out.String())
	return err
}

func kindStatus(streams Streams, flags *clusterFlags) error {
	opts := flags.kindOptions(streams)
	nodes, err := provision.Status(opts)
	if err != nil {
		return fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	if len(nodes) == 0 {
		fmt.Fprintf(streams.Out, "no kind cluster named %s\n", opts.Name)
		return nil
	}
	for _, node := range nodes {
		fmt.Fprintf(streams.Out, "%-32s %s\n", node.Name, node.Role)
	}
	if state, err := provision.ReadState(opts.Dir); err == nil && state.Name == opts.Name {
		fmt.Fprintf(streams.Out, "kubeconfig: %s\n", state.Kubeconfig)
		if state.HTTPHostPort != 0 {
			fmt.Fprintf(streams.Out, "ingress: http://127.0.0.1:%d\n", state.HTTPHostPort)
		}
	}
	return nil
}

func kindDown(streams Streams, flags *clusterFlags) error {
	opts := flags.kindOptions(streams)
	result, err := provision.Down(opts)
	if err != nil {
		return fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	switch result {
	case provision.Deleted:
		fmt.Fprintf(streams.Out, "kind cluster %s deleted\n", opts.Name)
	case provision.Absent:
		fmt.Fprintf(streams.Out, "no kind cluster named %s\n", opts.Name)
	case provision.LeftInPlace:
		fmt.Fprintf(streams.Out, "kind cluster %s left running: canarylab did not create it (forgot it; `kind delete cluster --name %s` deletes it)\n", opts.Name, opts.Name)
	}
	return nil
}
