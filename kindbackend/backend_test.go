package kindbackend

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/canarylab/canarylab/kindcluster"
	"github.com/canarylab/canarylab/platform"
)

// The cluster is canarylab's kind cluster as `cluster up --provider kind`
// makes it, with the platform installs and the images as further steps.
func TestClusterOptions(t *testing.T) {
	cache := t.TempDir()
	opts, err := Config{CacheDir: cache, Log: quietLog()}.ClusterOptions([]string{"canarylab/demo:blue"})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Name != kindcluster.DefaultName || opts.Dir != filepath.Join(cache, "kind-"+kindcluster.DefaultName) {
		t.Errorf("cluster %q in %s, want %q in <cache>/kind-<name>, where the cluster command puts it", opts.Name, opts.Dir, kindcluster.DefaultName)
	}
	want := append(append(kindcluster.Plan(kindcluster.Options{}), platform.StepNames()...), StepImages)
	if got := kindcluster.Plan(opts); !slices.Equal(got, want) {
		t.Errorf("steps %v, want %v", got, want)
	}
	if opts, _ := (Config{Dir: "/somewhere/else"}).ClusterOptions(nil); opts.Dir != "/somewhere/else" {
		t.Errorf("dir %s, want the given one", opts.Dir)
	}
}
