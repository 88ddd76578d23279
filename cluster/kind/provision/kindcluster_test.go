package provision

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/exec"
	"sigs.k8s.io/yaml"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	config := Config(Options{HTTPHostPort: 18080})
	if config.Kind != "Cluster" || config.APIVersion != "kind.x-k8s.io/v1alpha4" || config.Name != DefaultName {
		t.Fatalf("config is %s %s named %q, want a kind.x-k8s.io/v1alpha4 Cluster named %q", config.APIVersion, config.Kind, config.Name, DefaultName)
	}
	if len(config.Nodes) != 1 || config.Nodes[0].Role != v1alpha4.ControlPlaneRole {
		t.Fatalf("nodes %+v, want one control-plane node", config.Nodes)
	}
	node := config.Nodes[0]
	if !regexp.MustCompile(`^kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}$`).MatchString(node.Image) {
		t.Errorf("node image %q is not a kindest/node version pinned by digest", node.Image)
	}
	// A kind upgrade that changes its default image fails here: move the
	// pin (and the Kubernetes version in README.md) deliberately.
	if node.Image != defaults.Image {
		t.Errorf("node image %s, but the pinned kind library defaults to %s", node.Image, defaults.Image)
	}
	want := []v1alpha4.PortMapping{{ContainerPort: IngressHTTPNodePort, HostPort: 18080, ListenAddress: "127.0.0.1", Protocol: v1alpha4.PortMappingProtocolTCP}}
	if !slices.Equal(node.ExtraPortMappings, want) {
		t.Errorf("port mappings %+v, want %+v", node.ExtraPortMappings, want)
	}
	if named := Config(Options{Name: "ci-42"}); named.Name != "ci-42" {
		t.Errorf("name %q, want ci-42", named.Name)
	}
}

// The YAML is what kind's own loader reads (strictly: unknown fields are
// errors there), with the same port mapping and image.
func TestConfigYAMLRoundTrips(t *testing.T) {
	t.Parallel()
	data, err := ConfigYAML(Options{Name: "demo", HTTPHostPort: 18080})
	if err != nil {
		t.Fatal(err)
	}
	var back v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(data, &back); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	for _, want := range []string{"apiVersion: kind.x-k8s.io/v1alpha4", "kind: Cluster", "name: demo",
		"listenAddress: 127.0.0.1", "hostPort: 18080", "containerPort: 30080", "image: " + NodeImage} {
		if !strings.Contains(string(data), want) {
			t.Errorf("YAML lacks %q:\n%s", want, data)
		}
	}
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	for name, valid := range map[string]bool{"canarylab": true, "ci-42": true, "0a": true, "": false, "Upper": false, "-x": false, "a/b": false, "a.b": false} {
		if err := ValidateName(name); (err == nil) != valid {
			t.Errorf("ValidateName(%q) = %v, want valid %v", name, err, valid)
		}
	}
}

func TestPlanOrder(t *testing.T) {
	t.Parallel()
	if got, want := Plan(Options{}), []string{"docker", "cluster", "kubeconfig"}; !slices.Equal(got, want) {
		t.Errorf("plan %v, want %v", got, want)
	}
	hooks := []Step{{Name: "istio"}, {Name: "load images"}}
	if got, want := Plan(Options{Steps: hooks}), []string{"docker", "cluster", "kubeconfig", "istio", "load images"}; !slices.Equal(got, want) {
		t.Errorf("plan %v, want %v", got, want)
	}
}

// fakeProvider stands in for kind's Provider: a set of clusters and the
// kubeconfig kind would give for each.
type fakeProvider struct {
	mu       sync.Mutex
	clusters map[string]bool
	listErr  error
	// createErr fails Create after the nodes were made (kind's own
	// clean-up is left out: Retain is what kind sees from Keep).
	createErr error
	// blockCreate makes Create wait until the cluster is deleted; it
	// closes createStarted first.
	blockCreate   bool
	createStarted chan struct{}
	deletedCh     chan struct{}
	created       []string
	deleted       []string
	configs       []*v1alpha4.Cluster
	// internal are the nodes ListInternalNodes gives, by cluster; without
	// an entry, the nodes ListNodes gives.
	internal map[string][]nodes.Node
}

func newFake(existing ...string) *fakeProvider {
	fake := &fakeProvider{clusters: map[string]bool{}, deletedCh: make(chan struct{}, 10), createStarted: make(chan struct{})}
	for _, name := range existing {
		fake.clusters[name] = true
	}
	return fake
}

func (f *fakeProvider) Create(name string, _ ...cluster.CreateOption) error {
	f.mu.Lock()
	f.clusters[name] = true
	f.created = append(f.created, name)
	block := f.blockCreate
	f.mu.Unlock()
	if block {
		close(f.createStarted)
		<-f.deletedCh
		return errors.New("node container vanished")
	}
	return f.createErr
}

func (f *fakeProvider) Delete(name, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.clusters, name)
	f.deleted = append(f.deleted, name)
	f.deletedCh <- struct{}{}
	return nil
}

func (f *fakeProvider) List() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var names []string
	for name := range f.clusters {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

func (f *fakeProvider) ListNodes(name string) ([]nodes.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.clusters[name] {
		return nil, nil
	}
	return []nodes.Node{fakeNode{name + "-control-plane"}}, nil
}

func (f *fakeProvider) ListInternalNodes(name string) ([]nodes.Node, error) {
	f.mu.Lock()
	internal, ok := f.internal[name]
	f.mu.Unlock()
	if ok {
		return internal, nil
	}
	return f.ListNodes(name)
}

func (f *fakeProvider) KubeConfig(name string, internal bool) (string, error) {
	if internal {
		return "", errors.New("canarylab asked for the internal kubeconfig")
	}
	return "apiVersion: v1\nkind: Config\ncurrent-context: kind-" + name + "\n", nil
}

func (f *fakeProvider) exists(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clusters[name]
}

type fakeNode struct{ name string }

func (n fakeNode) String() string                     { return n.name }
func (n fakeNode) Role() (string, error)              { return "control-plane", nil }
func (n fakeNode) IP() (string, string, error)        { return "172.18.0.2", "", nil }
func (n fakeNode) SerialLogs(io.Writer) error         { return nil }
func (n fakeNode) Command(string, ...string) exec.Cmd { panic("not used") }
func (n fakeNode) CommandContext(context.Context, string, ...string) exec.Cmd {
	panic("not used")
}

func options(t *testing.T, fake *fakeProvider, log io.Writer) Options {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	return Options{
		Dir:         t.TempDir(),
		Log:         slog.New(slog.NewTextHandler(log, nil)),
		NewProvider: func(*slog.Logger) (Provider, error) { return fake, nil },
	}
}

func TestUpCreatesTheClusterAndWritesItsKubeconfig(t *testing.T) {
	t.Parallel()
	fake := newFake("someone-elses")
	var log bytes.Buffer
	opts := options(t, fake, &log)
	var hookSaw State
	opts.Steps = []Step{{Name: "platform", Run: func(_ context.Context, state *State) error {
		hookSaw = *state
		return nil
	}}}
	state, err := Up(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !fake.exists(DefaultName) || !state.Created || state.HTTPHostPort == 0 || state.Image != NodeImage {
		t.Fatalf("state %+v, clusters %v", state, fake.clusters)
	}
	if data, err := os.ReadFile(state.Kubeconfig); err != nil || !strings.Contains(string(data), "kind-canarylab") {
		t.Fatalf("kubeconfig %s: %q, %v", state.Kubeconfig, data, err)
	}
	if hookSaw.Kubeconfig != state.Kubeconfig || hookSaw.HTTPHostPort != state.HTTPHostPort {
		t.Errorf("the platform step saw %+v, want the kubeconfig and port", hookSaw)
	}
	if saved, err := ReadState(opts.Dir); err != nil || saved.Name != DefaultName || !saved.Created {
		t.Errorf("state file %+v, %v", saved, err)
	}
	for _, step := range Plan(opts) {
		if !strings.Contains(log.String(), `msg="step done" name=`+step+" took=") {
			t.Errorf("step %s not logged as done:\n%s", step, log.String())
		}
	}
}

// A later step failing deletes the cluster this Up created, and leaves no
// state behind; with Keep the cluster stays, marked as canarylab's.
func TestAFailingStepTearsTheClusterDown(t *testing.T) {
	t.Parallel()
	for _, keep := range []bool{false, true} {
		fake := newFake()
		opts := options(t, fake, nil)
		opts.Keep = keep
		opts.Steps = []Step{{Name: "platform", Run: func(context.Context, *State) error { return errors.New("istiod never became ready") }}}
		_, err := Up(context.Background(), opts)
		if err == nil || !strings.Contains(err.Error(), "step platform") || !strings.Contains(err.Error(), "istiod never became ready") {
			t.Fatalf("keep %v: got %v, want the platform step's error", keep, err)
		}
		_, stateErr := ReadState(opts.Dir)
		if keep {
			if !fake.exists(DefaultName) || stateErr != nil {
				t.Errorf("keep: cluster exists %v, state %v; want both kept", fake.exists(DefaultName), stateErr)
			}
			continue
		}
		if fake.exists(DefaultName) || !slices.Equal(fake.deleted, []string{DefaultName}) {
			t.Errorf("the cluster was not deleted: deleted %v", fake.deleted)
		}
		if !errors.Is(stateErr, os.ErrNotExist) {
			t.Errorf("a failed set-up left state behind: %v", stateErr)
		}
		if _, err := os.Stat(filepath.Join(opts.Dir, "kubeconfig")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a failed set-up left its kubeconfig: %v", err)
		}
	}
}

func TestAFailedCreateIsTornDown(t *testing.T) {
	t.Parallel()
	fake := newFake()
	fake.createErr = errors.New("kubeadm init failed")
	opts := options(t, fake, nil)
	_, err := Up(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "step cluster") || !strings.Contains(err.Error(), "kubeadm init failed") {
		t.Fatalf("got %v", err)
	}
	if fake.exists(DefaultName) {
		t.Error("the half-made cluster was left")
	}
}

// Interrupted while kind creates the cluster, Up deletes it (which is what
// stops kind's Create) and returns, naming the step.
func TestInterruptedCreateIsTornDown(t *testing.T) {
	t.Parallel()
	fake := newFake()
	fake.blockCreate = true
	ctx, cancel := context.WithCancel(context.Background())
	opts := options(t, fake, nil)
	opts.Steps = []Step{{Name: "never", Run: func(context.Context, *State) error {
		t.Error("a step ran after the interrupt")
		return nil
	}}}
	go func() {
		<-fake.createStarted
		cancel()
	}()
	_, err := Up(ctx, opts)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "step cluster") {
		t.Fatalf("got %v, want context.Canceled in step cluster", err)
	}
	if fake.exists(DefaultName) {
		t.Error("the cluster was left after the interrupt")
	}
	if _, err := ReadState(opts.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state left after the interrupt: %v", err)
	}
}

// A name taken by a cluster canarylab did not create is an error, and that
// cluster is never touched; with Reuse it is used, and still not deleted
// when a later step fails.
func TestAForeignClusterIsReusedOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	fake := newFake(DefaultName)
	opts := options(t, fake, nil)
	_, err := Up(context.Background(), opts)
	if !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), "--reuse") {
		t.Fatalf("got %v, want ErrNameTaken suggesting --reuse", err)
	}
	if len(fake.created) > 0 || len(fake.deleted) > 0 || !fake.exists(DefaultName) {
		t.Fatalf("the foreign cluster was touched: created %v, deleted %v", fake.created, fake.deleted)
	}

	opts.Reuse = true
	state, err := Up(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if state.Created || len(fake.created) > 0 {
		t.Fatalf("reused cluster recorded as created: %+v", state)
	}
	if result, err := Down(opts); err != nil || result != LeftInPlace || !fake.exists(DefaultName) {
		t.Fatalf("Down of a reused cluster: %v, %v; exists %v", result, err, fake.exists(DefaultName))
	}

	opts.Steps = []Step{{Name: "platform", Run: func(context.Context, *State) error { return errors.New("no") }}}
	if _, err := Up(context.Background(), opts); err == nil {
		t.Fatal("the failing step did not fail Up")
	}
	if len(fake.deleted) > 0 {
		t.Errorf("a reused cluster was deleted by teardown")
	}
}

// A cluster canarylab created is reused by the next Up without asking, and
// deleted by Down.
func TestOwnClusterIsReusedAndDeletedByDown(t *testing.T) {
	t.Parallel()
	fake := newFake()
	opts := options(t, fake, nil)
	first, err := Up(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Up(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(fake.created) != 1 || !second.Created || second.HTTPHostPort != first.HTTPHostPort {
		t.Fatalf("second Up: %+v, created %v", second, fake.created)
	}
	nodes, err := Status(opts)
	if err != nil || len(nodes) != 1 || nodes[0] != (Node{Name: "canarylab-control-plane", Role: "control-plane"}) {
		t.Fatalf("status %+v, %v", nodes, err)
	}
	if result, err := Down(opts); err != nil || result != Deleted || fake.exists(DefaultName) {
		t.Fatalf("Down: %v, %v", result, err)
	}
	if result, err := Down(opts); err != nil || result != Absent {
		t.Fatalf("second Down: %v, %v", result, err)
	}
	if nodes, err := Status(opts); err != nil || len(nodes) != 0 {
		t.Fatalf("status after down %+v, %v", nodes, err)
	}
}

// Without Docker, the error names the step and says what to do.
func TestMissingDockerIsExplained(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		newProvider func(*slog.Logger) (Provider, error)
		advice      string
	}{
		{"not installed", func(*slog.Logger) (Provider, error) { return nil, cluster.NoNodeProviderDetectedError }, "install Docker"},
		{"not running", func(*slog.Logger) (Provider, error) {
			fake := newFake()
			fake.listErr = &exec.RunError{Command: []string{"docker", "ps"}, Output: []byte("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"), Inner: errors.New("exit status 1")}
			return fake, nil
		}, "start it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := options(t, nil, nil)
			opts.NewProvider = tc.newProvider
			_, err := Up(context.Background(), opts)
			if !errors.Is(err, ErrNoDocker) || !strings.Contains(err.Error(), "step docker") || !strings.Contains(err.Error(), tc.advice) {
				t.Fatalf("got %v, want ErrNoDocker in step docker saying %q", err, tc.advice)
			}
			if tc.name == "not running" && !strings.Contains(err.Error(), "Cannot connect to the Docker daemon") {
				t.Errorf("the daemon's answer is not in the error: %v", err)
			}
			if _, err := Down(opts); !errors.Is(err, ErrNoDocker) {
				t.Errorf("Down: %v, want ErrNoDocker", err)
			}
		})
	}
}

// The real detection, on whatever this machine has: either a runtime that
// answers, or ErrNoDocker with advice. Nothing is created.
func TestRealDockerDetection(t *testing.T) {
	t.Parallel()
	opts := Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}.withDefaults()
	provider, err := connect(opts)
	if err == nil {
		if provider == nil {
			t.Fatal("no error and no provider")
		}
		t.Log("a container runtime answers here")
		return
	}
	if !errors.Is(err, ErrNoDocker) || !(strings.Contains(err.Error(), "install Docker") || strings.Contains(err.Error(), "start it")) {
		t.Fatalf("got %v, want ErrNoDocker saying to install or start Docker", err)
	}
	t.Logf("no Docker here: %v", err)
}
