package kind

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/fixtures/image"
)

// The images step builds the scenario's images, and only those, into one
// tarball and loads it into the node: each tag is there, configured to
// behave as its profile.
func TestImagesStepLoadsTheScenariosImages(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the fixture app")
	}
	t.Parallel()
	sc := loadScenario(t, "../../scenarios/release-replaced-mid-rollout.yaml")
	node := &fakeNode{}
	provider := &fakeProvider{node: node}
	step := imagesStep(image.Options{}, provider.options(t), Images(sc))
	if step.Name != StepImages {
		t.Errorf("step %q, want %q", step.Name, StepImages)
	}
	if err := step.Run(t.Context(), &provision.State{Name: "canarylab"}); err != nil {
		t.Fatal(err)
	}
	if len(node.imported) != 1 {
		t.Fatalf("%d archives imported, want one", len(node.imported))
	}
	archive := node.imported[0]
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(archive)), nil }
	manifest, err := tarball.LoadManifest(opener)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, entry := range manifest {
		tags = append(tags, entry.RepoTags...)
	}
	slices.Sort(tags)
	want := []string{"canarylab/demo:blue", "canarylab/demo:red", "canarylab/demo:yellow"}
	if !slices.Equal(tags, want) {
		t.Fatalf("the archive holds %v, want the scenario's images %v", tags, want)
	}
	for _, ref := range want {
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		img, err := tarball.Image(opener, &tag)
		if err != nil {
			t.Fatal(err)
		}
		config, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(config.Config.Env, image.ProfileEnv+"="+ref) {
			t.Errorf("%s: env %v does not select its profile", ref, config.Config.Env)
		}
	}
}
