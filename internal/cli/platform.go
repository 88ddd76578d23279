package cli

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/cluster/kind/platform"
	"github.com/canarylab/canarylab/cluster/local/controlplane"
	"github.com/canarylab/canarylab/runner"
)

func newPlatformCommand(streams Streams) *cobra.Command {
	var cacheDir string
	cmd := &cobra.Command{
		Use:   "platform digests",
		Short: "The kind backend's platform installs (Istio, Prometheus, Argo Rollouts), pinned in manifests/platform/versions.yaml",
	}
	digests := &cobra.Command{
		Use:   "digests",
		Short: "Download every file versions.yaml pins by sha256 and print its digest (needs network)",
		Long: `Downloads Istio's chart archives at the pinned version from the pinned repository (and
reads the Argo Rollouts install manifest from its Go module), without checking them, and
prints each sha256 next to the digest the chart repository's index.yaml lists and the one
manifests/platform/versions.yaml pins. Write a missing digest into versions.yaml and
rebuild canarylab: the platform install refuses any file whose digest is missing or differs.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &usageError{fmt.Errorf("platform digests takes no arguments, got %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cacheDir == "" {
				dir, err := controlplane.DefaultCacheDir()
				if err != nil {
					return err
				}
				cacheDir = dir
			}
			log := slog.New(slog.NewTextHandler(streams.Err, nil))
			found, err := platform.Digests(cmd.Context(), platform.Options{CacheDir: filepath.Join(cacheDir, "platform"), Log: log,
				Builder: &controlplane.Builder{CacheDir: cacheDir, Log: log}})
			if err != nil {
				return fmt.Errorf("%w: %w", runner.ErrBackend, err)
			}
			out := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(out, "VERSIONS.YAML\tSHA256\tINDEX.YAML\tPINNED")
			for _, digest := range found {
				index := "-"
				switch {
				case digest.Index == digest.SHA256:
					index = "agrees"
				case digest.Index != "":
					index = "DIFFERS: " + digest.Index
				case digest.IndexError != "":
					index = "? " + digest.IndexError
				}
				pinned := "matches"
				if !digest.Matches() {
					pinned = "differs: " + digest.Pinned
				}
				fmt.Fprintf(out, "%s\t%s\t%s\t%s\n", digest.Field, digest.SHA256, index, pinned)
			}
			if err := out.Flush(); err != nil {
				return err
			}
			for _, digest := range found {
				if !digest.Matches() {
					fmt.Fprintf(streams.Out, "\n%s does not hold these digests yet: write them there (source: %s, ...) and rebuild canarylab.\n", platform.VersionsFile, digest.Source)
					break
				}
			}
			return nil
		},
	}
	digests.Flags().StringVar(&cacheDir, "cache-dir", "", "canarylab's cache (default: the user cache directory/canarylab)")
	cmd.AddCommand(digests)
	return cmd
}
