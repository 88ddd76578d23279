package kind

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/fixtures/image"
)

// StepImages is the name of the set-up step that loads the fixture images.
const StepImages = "images"

// writeImages builds the fixture app once and writes one tarball holding
// an image per reference (they share the app's layer), as `canarylab image
// build` does.
func writeImages(ctx context.Context, build image.Options, refs []string, path string) error {
	images, err := image.Catalog(ctx, build, refs)
	if err != nil {
		return fmt.Errorf("building the fixture images: %w", err)
	}
	return image.WriteTarball(path, images, image.WriteOptions{})
}

// loadImages builds the images of refs into a tarball in a temporary
// directory and loads it into every node of the cluster: the pods then
// start from them without a registry (imagePullPolicy IfNotPresent).
func loadImages(ctx context.Context, build image.Options, cluster provision.Options, refs []string) error {
	dir, err := os.MkdirTemp("", "canarylab-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "images.tar")
	if err := writeImages(ctx, build, refs, archive); err != nil {
		return err
	}
	return provision.LoadImageArchive(ctx, cluster, archive)
}

// imagesStep is the "images" step of provision.Up: the fixture images of
// refs, loaded into the cluster Up made or reused.
func imagesStep(build image.Options, cluster provision.Options, refs []string) provision.Step {
	return provision.Step{Name: StepImages, Run: func(ctx context.Context, _ *provision.State) error {
		return loadImages(ctx, build, cluster, refs)
	}}
}
