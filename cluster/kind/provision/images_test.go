package provision

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/exec"
)

// containerdNode is a kind node whose containerd takes image imports: it
// answers `containerd config dump` with a v3 config (the snapshotter kind
// reads), and records what `ctr images import` reads from stdin.
type containerdNode struct {
	fakeNode
	mu       sync.Mutex
	imported [][]byte
	args     [][]string
	failCtr  bool
}

func (n *containerdNode) Command(name string, args ...string) exec.Cmd {
	return &nodeCmd{node: n, argv: append([]string{name}, args...)}
}

func (n *containerdNode) CommandContext(_ context.Context, name string, args ...string) exec.Cmd {
	return n.Command(name, args...)
}

type nodeCmd struct {
	node   *containerdNode
	argv   []string
	stdin  io.Reader
	stdout io.Writer
}

func (c *nodeCmd) Run() error {
	c.node.mu.Lock()
	defer c.node.mu.Unlock()
	c.node.args = append(c.node.args, c.argv)
	switch {
	case slices.Equal(c.argv, []string{"containerd", "config", "dump"}):
		_, err := io.WriteString(c.stdout, "version = 3\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = 'overlayfs'\n")
		return err
	case c.argv[0] == "ctr" && c.node.failCtr:
		return &exec.RunError{Command: c.argv, Output: []byte("ctr: content digest mismatch"), Inner: errors.New("exit status 1")}
	case c.argv[0] == "ctr":
		data, err := io.ReadAll(c.stdin)
		c.node.imported = append(c.node.imported, data)
		return err
	}
	return errors.New("unexpected command " + strings.Join(c.argv, " "))
}

func (c *nodeCmd) SetEnv(...string) exec.Cmd      { return c }
func (c *nodeCmd) SetStdin(r io.Reader) exec.Cmd  { c.stdin = r; return c }
func (c *nodeCmd) SetStdout(w io.Writer) exec.Cmd { c.stdout = w; return c }
func (c *nodeCmd) SetStderr(io.Writer) exec.Cmd   { return c }

// Every node that runs pods gets the whole archive through containerd's
// import with the node's snapshotter; a load balancer node gets nothing.
func TestLoadImageArchiveIntoEveryNode(t *testing.T) {
	t.Parallel()
	fake := newFake("canarylab")
	worker, controlPlane := &containerdNode{fakeNode: fakeNode{"canarylab-worker"}}, &containerdNode{fakeNode: fakeNode{"canarylab-control-plane"}}
	fake.internal = map[string][]nodes.Node{"canarylab": {controlPlane, worker}}
	opts := options(t, fake, nil)
	archive := filepath.Join(t.TempDir(), "images.tar")
	content := []byte("manifest.json and layers")
	if err := os.WriteFile(archive, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := LoadImageArchive(t.Context(), opts, archive); err != nil {
		t.Fatal(err)
	}
	for _, node := range []*containerdNode{controlPlane, worker} {
		if len(node.imported) != 1 || !bytes.Equal(node.imported[0], content) {
			t.Errorf("%s imported %q, want the archive once", node.name, node.imported)
		}
		last := node.args[len(node.args)-1]
		if !slices.Contains(last, "--snapshotter=overlayfs") || !slices.Contains(last, "--namespace=k8s.io") {
			t.Errorf("%s: import command %v, want the k8s.io namespace and the node's snapshotter", node.name, last)
		}
	}
}

func TestLoadImageArchiveErrors(t *testing.T) {
	t.Parallel()
	archive := filepath.Join(t.TempDir(), "images.tar")
	os.WriteFile(archive, []byte("x"), 0o644)

	failing := &containerdNode{fakeNode: fakeNode{"canarylab-control-plane"}, failCtr: true}
	fake := newFake("canarylab")
	fake.internal = map[string][]nodes.Node{"canarylab": {failing}}
	err := LoadImageArchive(t.Context(), options(t, fake, nil), archive)
	if err == nil || !strings.Contains(err.Error(), "canarylab-control-plane") || !strings.Contains(err.Error(), "content digest mismatch") {
		t.Errorf("a failing import: err = %v, want the node and ctr's output", err)
	}

	if err := LoadImageArchive(t.Context(), options(t, newFake(), nil), archive); err == nil || !strings.Contains(err.Error(), "no nodes") {
		t.Errorf("no cluster: err = %v", err)
	}

	down := newFake("canarylab")
	down.listErr = errors.New("Cannot connect to the Docker daemon")
	if err := LoadImageArchive(t.Context(), options(t, down, nil), archive); !errors.Is(err, ErrNoDocker) {
		t.Errorf("docker down: err = %v, want ErrNoDocker", err)
	}
}
