package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestImageBuildUsageErrors(t *testing.T) {
	t.Parallel()
	existing := filepath.Join(t.TempDir(), "there.tar")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		args     []string
		mentions []string
	}{
		{"no output file", []string{"image", "build"}, []string{"--out"}},
		{"unknown tag", []string{"image", "build", "--out", filepath.Join(t.TempDir(), "x.tar"), "--tags", "blue,nope"},
			[]string{"nope", "canarylab/demo:blue"}},
		{"empty tags", []string{"image", "build", "--out", filepath.Join(t.TempDir(), "x.tar"), "--tags", ","}, []string{"--tags"}},
		{"argument instead of --out", []string{"image", "build", "x.tar"}, []string{"x.tar", "--out"}},
		{"unknown subcommand", []string{"image", "push"}, []string{"push"}},
		{"existing file", []string{"image", "build", "--out", existing, "--tags", "blue"}, []string{existing, "--overwrite"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tc.args...)
			if code != ExitInvalid {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitInvalid, stderr)
			}
			for _, want := range tc.mentions {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not mention %q:\n%s", want, stderr)
				}
			}
		})
	}
	if contents, err := os.ReadFile(existing); err != nil || string(contents) != "keep me" {
		t.Errorf("the existing file changed: %q %v", contents, err)
	}
}

func TestImageBuildWritesTheTagsAsked(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "out", "demo.tar") // out/ does not exist yet
	code, stdout, stderr := run(t, "image", "build", "--out", file, "--tags", "blue,canarylab/demo:red")
	if code != ExitPassed {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, file) {
		t.Errorf("stdout does not name %s: %s", file, stdout)
	}
	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, descriptor := range manifest {
		tags = append(tags, descriptor.RepoTags...)
	}
	slices.Sort(tags)
	if want := []string{"canarylab/demo:blue", "canarylab/demo:red"}; !slices.Equal(tags, want) {
		t.Errorf("tags %v, want %v", tags, want)
	}
	first, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	code, _, stderr = run(t, "image", "build", "--out", file, "--tags", "green")
	if code != ExitInvalid || !strings.Contains(stderr, file) {
		t.Errorf("second build without --overwrite: exit %d, stderr %q; want %d naming %s", code, stderr, ExitInvalid, file)
	}
	if again, err := os.ReadFile(file); err != nil || !bytes.Equal(again, first) {
		t.Errorf("the file changed without --overwrite (%v)", err)
	}

	code, _, stderr = run(t, "image", "build", "--out", file, "--tags", "green", "--overwrite")
	if code != ExitPassed {
		t.Fatalf("--overwrite: exit %d: %s", code, stderr)
	}
	manifest, err = tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 1 || !slices.Equal(manifest[0].RepoTags, []string{"canarylab/demo:green"}) {
		t.Errorf("after --overwrite: %+v, want only canarylab/demo:green", manifest)
	}
}
