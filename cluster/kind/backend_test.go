package kind

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/canarylab/canarylab/cluster/kind/platform"
	"github.com/canarylab/canarylab/cluster/kind/provision"
)

// The cluster is canarylab's kind cluster as `cluster up --provider kind`
// makes it, with the platform installs and the images as further steps.
func TestClusterOptions(t *testing.T) {
	cache := t.TempDir()
	opts, err := Config{CacheDir: cache, Log: quietLog()}.ClusterOptions([]string{"canarylab/demo:blue"})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Name != provision.DefaultName || opts.Dir != filepath.Join(cache, "kind-"+provision.DefaultName) {
		t.Errorf("cluster %q in %s, want %q in <cache>/kind-<name>, where the cluster command puts it", opts.Name, opts.Dir, provision.DefaultName)
	}
	want := append(append(provision.Plan(provision.Options{}), platform.StepNames()...), StepImages)
	if got := provision.Plan(opts); !slices.Equal(got, want) {
		t.Errorf("steps %v, want %v", got, want)
	}
	if opts, _ := (Config{Dir: "/somewhere/else"}).ClusterOptions(nil); opts.Dir != "/somewhere/else" {
		t.Errorf("dir %s, want the given one", opts.Dir)
	}
}
