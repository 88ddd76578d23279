package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/canarylab/canarylab/fixtures"
	"github.com/canarylab/canarylab/fixtures/image"
)

type imageBuildFlags struct {
	out       string
	tags      string
	arch      string
	overwrite bool
}

func newImageCommand(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the fixture app's images (canarylab/demo:TAG) without a container engine",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &usageError{fmt.Errorf("unknown command %q: see canarylab image --help", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	flags := &imageBuildFlags{}
	build := &cobra.Command{
		Use:   "build --out FILE",
		Short: "Build the demo app images into one tarball for docker load or kind load image-archive",
		Long: `image build compiles fixtures/demoapp/cmd/demo-app with the Go toolchain (a static
Linux binary) and writes one image per tag into a tarball: one layer holding /demo-app,
shared by every tag; each tag's config sets IMAGE to its own reference, which selects
the behaviour profile of fixtures/profiles.yaml. No Docker daemon is needed. Run it
inside the canarylab module (it compiles the source).`,
		Example: `  canarylab image build --out out/demo-images.tar
  canarylab image build --out out/demo.tar --tags blue,red --overwrite
  docker load --input out/demo-images.tar
  kind load image-archive out/demo-images.tar`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &usageError{fmt.Errorf("unexpected argument %q: the output file is --out FILE", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImageBuild(cmd, streams, flags)
		},
	}
	build.Flags().StringVar(&flags.out, "out", "", "the tarball to write (required)")
	build.Flags().StringVar(&flags.tags, "tags", "all", "all, or a comma-separated list of tags (red) or images (canarylab/demo:red) of fixtures/profiles.yaml")
	build.Flags().StringVar(&flags.arch, "arch", runtime.GOARCH, "GOARCH of the binary and the image (the kind nodes' architecture)")
	build.Flags().BoolVar(&flags.overwrite, "overwrite", false, "replace FILE if it exists")
	cmd.AddCommand(build)
	return cmd
}

func runImageBuild(cmd *cobra.Command, streams Streams, flags *imageBuildFlags) error {
	if flags.out == "" {
		return &usageError{errors.New("--out FILE is required, e.g. --out out/demo-images.tar")}
	}
	refs, err := imageRefs(flags.tags)
	if err != nil {
		return &usageError{err}
	}
	if _, err := os.Lstat(flags.out); err == nil && !flags.overwrite {
		return &usageError{fmt.Errorf("%s exists: pass --overwrite to replace it", flags.out)}
	}
	started := time.Now()
	images, err := image.Catalog(cmd.Context(), image.Options{GOARCH: flags.arch}, refs)
	if err != nil {
		if errors.Is(err, image.ErrNoProfile) {
			return &usageError{err}
		}
		return err
	}
	if err := os.MkdirAll(filepath.Dir(flags.out), 0o755); err != nil {
		return err
	}
	if err := image.WriteTarball(flags.out, images, image.WriteOptions{Overwrite: flags.overwrite}); err != nil {
		if errors.Is(err, image.ErrExists) {
			return &usageError{fmt.Errorf("%s exists: pass --overwrite to replace it", flags.out)}
		}
		return err
	}
	size := int64(0)
	if info, err := os.Stat(flags.out); err == nil {
		size = info.Size()
	}
	tags := make([]string, 0, len(images))
	for tag := range images {
		tags = append(tags, tag.String())
	}
	sort.Strings(tags)
	fmt.Fprintf(streams.Out, "wrote %s (%.1f MB, linux/%s, %s): %s\n", flags.out, float64(size)/1e6, flags.arch,
		time.Since(started).Round(100*time.Millisecond), strings.Join(tags, " "))
	return nil
}

// imageRefs turns --tags into image references: all, or tags and
// references of the default profiles.
func imageRefs(tags string) ([]string, error) {
	profiles := fixtures.Default()
	if strings.TrimSpace(tags) == "all" {
		return profiles.Images(), nil
	}
	var refs, unknown []string
	for _, tag := range strings.Split(tags, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "" {
			continue
		}
		ref := tag
		if !strings.ContainsAny(tag, ":/") {
			ref = "canarylab/demo:" + tag
		}
		if _, ok := profiles[ref]; !ok {
			unknown = append(unknown, tag)
			continue
		}
		if !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("--tags %s: no behaviour profile in fixtures/profiles.yaml; known: all, %s",
			strings.Join(unknown, ","), strings.Join(profiles.Images(), ", "))
	}
	if len(refs) == 0 {
		return nil, errors.New("--tags is empty: use all, or tags such as blue,red")
	}
	return refs, nil
}
