package kind

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/exec"

	"github.com/canarylab/canarylab/cluster/kind/provision"
	"github.com/canarylab/canarylab/scenario"
)

func loadScenario(t *testing.T, path string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fakeProvider is kind's provider for one existing cluster whose one node
// takes image imports; listErr stands for a Docker that does not answer.
type fakeProvider struct {
	node    *fakeNode
	listErr error
	created []string
}

func (f *fakeProvider) Create(name string, _ ...cluster.CreateOption) error {
	f.created = append(f.created, name)
	return errors.New("the fake provider creates no clusters")
}
func (f *fakeProvider) Delete(string, string) error { return nil }
func (f *fakeProvider) List() ([]string, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	return []string{"canarylab"}, nil
}
func (f *fakeProvider) ListNodes(string) ([]nodes.Node, error) { return []nodes.Node{f.node}, nil }
func (f *fakeProvider) ListInternalNodes(string) ([]nodes.Node, error) {
	return []nodes.Node{f.node}, nil
}
func (f *fakeProvider) KubeConfig(string, bool) (string, error) {
	return "apiVersion: v1\nkind: Config\n", nil
}

func (f *fakeProvider) options(t *testing.T) provision.Options {
	return provision.Options{Name: "canarylab", Dir: t.TempDir(), Log: quietLog(),
		NewProvider: func(*slog.Logger) (provision.Provider, error) { return f, nil }}
}

// fakeNode answers kind's snapshotter probe and keeps what `ctr images
// import` reads.
type fakeNode struct {
	mu       sync.Mutex
	imported [][]byte
}

func (n *fakeNode) String() string              { return "canarylab-control-plane" }
func (n *fakeNode) Role() (string, error)       { return "control-plane", nil }
func (n *fakeNode) IP() (string, string, error) { return "172.18.0.2", "", nil }
func (n *fakeNode) SerialLogs(io.Writer) error  { return nil }
func (n *fakeNode) Command(name string, args ...string) exec.Cmd {
	return &nodeCmd{node: n, argv: append([]string{name}, args...)}
}
func (n *fakeNode) CommandContext(_ context.Context, name string, args ...string) exec.Cmd {
	return n.Command(name, args...)
}

type nodeCmd struct {
	node   *fakeNode
	argv   []string
	stdin  io.Reader
	stdout io.Writer
}

func (c *nodeCmd) Run() error {
	switch {
	case slices.Equal(c.argv, []string{"containerd", "config", "dump"}):
		_, err := io.WriteString(c.stdout, "version = 3\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = 'overlayfs'\n")
		return err
	case c.argv[0] == "ctr" && slices.Contains(c.argv, "import"):
		data, err := io.ReadAll(c.stdin)
		c.node.mu.Lock()
		c.node.imported = append(c.node.imported, data)
		c.node.mu.Unlock()
		return err
	}
	return errors.New("unexpected command " + strings.Join(c.argv, " "))
}
func (c *nodeCmd) SetEnv(...string) exec.Cmd      { return c }
func (c *nodeCmd) SetStdin(r io.Reader) exec.Cmd  { c.stdin = r; return c }
func (c *nodeCmd) SetStdout(w io.Writer) exec.Cmd { c.stdout = w; return c }
func (c *nodeCmd) SetStderr(io.Writer) exec.Cmd   { return c }
