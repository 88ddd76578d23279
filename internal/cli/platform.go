package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/cluster/kind/platform"
	"github.com/canarylab/canarylab/cluster/local/controlplane"
	"github.com/canarylab/canarylab/runner"
)

func newPlatformCommand(streams Streams) *cobra.Command {
	return platformCommand(streams, nil)
}

// platformCommand is `canarylab platform`, downloading with client (nil:
// http.DefaultClient; tests pass a fake chart repository's).
func platformCommand(streams Streams, client *http.Client) *cobra.Command {
	var (
		cacheDir, file string
		write, force   bool
	)
	cmd := &cobra.Command{
		Use:   "platform digests",
		Short: "The kind backend's platform installs (Istio, Prometheus, Argo Rollouts), pinned in manifests/platform/versions.yaml",
	}
	digests := &cobra.Command{
		Use:   "digests",
		Short: "Download every file versions.yaml pins by sha256 and print its digest, or pin it with --write (needs network)",
		Long: `Downloads Istio's chart archives at the pinned version from the pinned repository (and
reads the Argo Rollouts install manifest from its Go module), without checking them, and
prints each sha256 next to the digest the chart repository's index.yaml lists and the one
manifests/platform/versions.yaml pins. The platform install refuses any file whose digest
differs from the pinned one; an Istio chart versions.yaml does not pin is checked against
the index's digest on first use instead (and cached), until it is pinned.

With --write, writes the digests into versions.yaml (manifests/platform/versions.yaml from
the repository's root, or --file): each chart's as its index lists it, if the download has
it too, and the manifest's; only the digest values change, comments and order stay. A
digest already pinned that differs is refused unless --force. canarylab embeds
versions.yaml: rebuild it for the install to use what was written.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &usageError{fmt.Errorf("platform digests takes no arguments, got %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if force && !write {
				return &usageError{errors.New("--force is for --write: it lets --write overwrite a digest versions.yaml pins already")}
			}
			if cacheDir == "" {
				dir, err := controlplane.DefaultCacheDir()
				if err != nil {
					return err
				}
				cacheDir = dir
			}
			// The pins: the embedded versions.yaml, or the file to write.
			var versions *platform.Versions
			var data []byte
			if write && file == "" {
				file = platform.VersionsFile
			}
			if file != "" {
				var err error
				versions, data, err = platform.ReadVersionsFile(file)
				if errors.Is(err, fs.ErrNotExist) {
					return &usageError{fmt.Errorf("%w: run canarylab from the repository's root, or pass --file", err)}
				}
				if err != nil {
					return &usageError{err}
				}
			}
			log := slog.New(slog.NewTextHandler(streams.Err, nil))
			found, err := platform.Digests(cmd.Context(), platform.Options{Versions: versions, CacheDir: filepath.Join(cacheDir, "platform"), Log: log,
				HTTPClient: client, Builder: &controlplane.Builder{CacheDir: cacheDir, Log: log}})
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
			if !write {
				for _, digest := range found {
					if !digest.Matches() {
						fmt.Fprintf(streams.Out, "\n%s does not hold these digests yet (source: %s, ...): `canarylab platform digests --write` writes them there; then rebuild canarylab.\n",
							platform.VersionsFile, digest.Source)
						break
					}
				}
				return nil
			}
			return writeDigests(streams, file, data, found, force)
		},
	}
	digests.Flags().StringVar(&cacheDir, "cache-dir", "", "canarylab's cache (default: the user cache directory/canarylab)")
	digests.Flags().BoolVar(&write, "write", false, "write the digests into versions.yaml (only the digest values change)")
	digests.Flags().StringVar(&file, "file", "", "the versions.yaml to compare with and --write (default: the copy embedded in canarylab; with --write, "+platform.VersionsFile+")")
	digests.Flags().BoolVar(&force, "force", false, "with --write, overwrite a pinned digest that differs from the one found")
	cmd.AddCommand(digests)
	return cmd
}

// writeDigests is `platform digests --write`: the digests found, pinned in
// file (which held data).
func writeDigests(streams Streams, file string, data []byte, found []platform.Digest, force bool) error {
	updated, pins, err := platform.PinDigests(data, found, force)
	if err != nil {
		err = fmt.Errorf("%s not written: %w", file, err)
		if errors.Is(err, platform.ErrPinned) {
			return &usageError{err}
		}
		return fmt.Errorf("%w: %w", runner.ErrBackend, err)
	}
	if len(pins) == 0 {
		fmt.Fprintf(streams.Out, "\n%s pins these digests already: nothing to write.\n", file)
		return nil
	}
	if err := platform.WriteVersionsFile(file, updated); err != nil {
		return err
	}
	fmt.Fprintln(streams.Out)
	for _, pin := range pins {
		fmt.Fprintf(streams.Out, "%s: %s -> %s\n", pin.Field, pin.From, pin.To)
	}
	fmt.Fprintf(streams.Out, "wrote %d digest(s) to %s: commit it. canarylab embeds versions.yaml, so this binary still has the old copy: "+
		"rebuild canarylab (go run ./cmd/canarylab does; go build or go install again) for the install to check the new pins.\n", len(pins), file)
	return nil
}
