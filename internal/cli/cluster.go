package cli

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/localcluster"
	"github.com/canarylab/canarylab/runner"
)

type clusterFlags struct {
	provider string
	dir      string
	cacheDir string
	binDir   string
	keep     bool
}

func newClusterCommand(streams Streams) *cobra.Command {
	flags := &clusterFlags{}
	cmd := &cobra.Command{
		Use:   "cluster up|down|status",
		Short: "Manage the real control plane the local backend runs on",
		Long: `cluster up starts a real kube-apiserver, etcd, controller-manager, scheduler, kwok and
the Argo Rollouts controller as local processes, built from their Go modules on first use
(about 10 minutes on 2 cores, then cached by version under the cache directory). Point
CANARYLAB_ETCD, CANARYLAB_KUBE_APISERVER, ... or --bin-dir at binaries you already have.`,
	}
	cmd.PersistentFlags().StringVar(&flags.provider, "provider", "local", "local (processes); kind is planned")
	cmd.PersistentFlags().StringVar(&flags.dir, "dir", "", "the cluster's directory (default: <cache dir>/local-cluster)")
	cmd.PersistentFlags().StringVar(&flags.cacheDir, "cache-dir", "", "where built binaries are cached (default: the user cache directory/canarylab)")
	cmd.PersistentFlags().StringVar(&flags.binDir, "bin-dir", "", "use the binaries in this directory when present")
	cmd.AddCommand(
		&cobra.Command{Use: "up", Short: "Start the control plane", RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flags.resolve(); err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(streams.Err, nil))
			state, err := localcluster.Up(cmd.Context(), localcluster.Options{Dir: flags.dir, Log: log,
				Builder: &localcluster.Builder{CacheDir: flags.cacheDir, BinDir: flags.binDir, Log: log}})
			if err != nil {
				return fmt.Errorf("%w: %w", runner.ErrBackend, err)
			}
			fmt.Fprintf(streams.Out, "local cluster up: %s\nkubeconfig: %s\n", state.Server, state.Kubeconfig)
			return nil
		}},
		&cobra.Command{Use: "status", Short: "Say whether the control plane runs", RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flags.resolve(); err != nil {
				return err
			}
			state, err := localcluster.ReadState(flags.dir)
			if err != nil {
				fmt.Fprintf(streams.Out, "no local cluster in %s\n", flags.dir)
				return nil
			}
			for _, p := range state.Processes {
				fmt.Fprintf(streams.Out, "%-24s pid %-8d %s\n", p.Name, p.PID, map[bool]string{true: "running", false: "stopped"}[localcluster.ProcessAlive(p.PID)])
			}
			if !state.Running() {
				return fmt.Errorf("%w: the local cluster in %s is not fully running; `canarylab cluster down` cleans it up", runner.ErrBackend, flags.dir)
			}
			fmt.Fprintf(streams.Out, "kubeconfig: %s\n", state.Kubeconfig)
			return nil
		}},
	)
	down := &cobra.Command{Use: "down", Short: "Stop the control plane and remove its data (unless --keep)", RunE: func(cmd *cobra.Command, _ []string) error {
		if err := flags.resolve(); err != nil {
			return err
		}
		if err := localcluster.Down(flags.dir, flags.keep); err != nil {
			return fmt.Errorf("%w: %w", runner.ErrBackend, err)
		}
		fmt.Fprintf(streams.Out, "local cluster in %s is down\n", flags.dir)
		return nil
	}}
	down.Flags().BoolVar(&flags.keep, "keep", false, "keep the cluster's directory (logs, etcd data)")
	cmd.AddCommand(down)
	return cmd
}

func (f *clusterFlags) resolve() error {
	if f.provider != "local" {
		return &usageError{fmt.Errorf("--provider %q: only local is available", f.provider)}
	}
	if f.cacheDir == "" {
		dir, err := localcluster.DefaultCacheDir()
		if err != nil {
			return err
		}
		f.cacheDir = dir
	}
	if f.dir == "" {
		f.dir = filepath.Join(f.cacheDir, "local-cluster")
	}
	return nil
}
