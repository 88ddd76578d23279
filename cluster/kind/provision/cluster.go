package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"sigs.k8s.io/kind/pkg/cluster"
)

// Step is one named part of the set-up. Up runs its own steps ("docker",
// "cluster", "kubeconfig"), then the caller's (Options.Steps) with the
// cluster's state so far.
type Step struct {
	Name string
	Run  func(ctx context.Context, cluster *State) error
}

// State is what Up leaves in <dir>/state.json for status, down and runs.
type State struct {
	Name       string `json:"name"`
	Dir        string `json:"dir"`
	Kubeconfig string `json:"kubeconfig"`
	Image      string `json:"image"`
	// HTTPHostPort publishes the ingress gateway's http port on 127.0.0.1;
	// 0 for a cluster canarylab did not create.
	HTTPHostPort int `json:"httpHostPort,omitempty"`
	// Created is set when canarylab created the cluster; one it reused
	// (Options.Reuse) is never deleted by Down.
	Created bool      `json:"created"`
	Started time.Time `json:"started,omitzero"`
}

// StateFile is where the state of the cluster set up in dir is kept.
func StateFile(dir string) string { return filepath.Join(dir, "state.json") }

// ReadState reads the state file in dir.
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(StateFile(dir))
	if err != nil {
		return nil, err
	}
	var state State
	if err := json.Unmarshal(data, &state); err != nil {
		return nil, fmt.Errorf("%s: %w", StateFile(dir), err)
	}
	return &state, nil
}

func (s *State) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(StateFile(s.Dir), data, 0o600)
}

// ErrNameTaken means a cluster of the requested name exists that canarylab
// did not create, and Options.Reuse was not set.
var ErrNameTaken = errors.New("the cluster name is taken")

// setup is Up in progress.
type setup struct {
	opts     Options
	provider Provider
	state    State
	// created is set from the moment this Up asks kind to create the
	// cluster: only then does teardown delete it.
	created bool
}

// steps is the set-up in order; Plan and Up both read it, so the plan is
// what runs.
func (c *setup) steps() []Step {
	return append([]Step{
		{"docker", c.connect},
		{"cluster", c.createOrReuse},
		{"kubeconfig", c.writeKubeconfig},
	}, c.opts.Steps...)
}

// Plan names Up's steps in the order they run.
func Plan(opts Options) []string {
	var names []string
	for _, step := range (&setup{opts: opts}).steps() {
		names = append(names, step.Name)
	}
	return names
}

// Up creates the kind cluster, or reuses one, as a list of named steps
// logged as they run. If a step fails or ctx is done, a cluster this call
// created is deleted before Up returns (unless Options.Keep), and the error
// names the step.
func Up(ctx context.Context, opts Options) (*State, error) {
	opts = opts.withDefaults()
	if err := ValidateName(opts.Name); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("kind cluster: no directory for its kubeconfig and state")
	}
	c := &setup{opts: opts, state: State{
		Name: opts.Name, Dir: opts.Dir, Kubeconfig: filepath.Join(opts.Dir, "kubeconfig"), Image: NodeImage,
	}}
	for _, step := range c.steps() {
		err := ctx.Err()
		if err == nil {
			started := time.Now()
			opts.Log.Info("step", "name", step.Name)
			if err = step.Run(ctx, &c.state); err == nil {
				opts.Log.Info("step done", "name", step.Name, "took", time.Since(started).Round(10*time.Millisecond))
				continue
			}
		}
		opts.Log.Error("step failed", "name", step.Name, "error", err)
		return nil, errors.Join(fmt.Errorf("kind cluster %s, step %s: %w", opts.Name, step.Name, err), c.teardown())
	}
	c.state.Started = time.Now()
	if err := c.state.save(); err != nil {
		return nil, errors.Join(fmt.Errorf("kind cluster %s: %w", opts.Name, err), c.teardown())
	}
	return &c.state, nil
}

// teardown deletes the cluster if this Up created it and the user did not
// ask to keep it.
func (c *setup) teardown() error {
	if !c.created {
		return nil
	}
	if c.opts.Keep {
		c.opts.Log.Warn("keeping the kind cluster (keep)", "name", c.opts.Name, "kubeconfig", c.state.Kubeconfig,
			"delete it with", "canarylab cluster down --provider kind --name "+c.opts.Name)
		return nil
	}
	c.opts.Log.Info("deleting the kind cluster", "name", c.opts.Name)
	if err := c.provider.Delete(c.opts.Name, c.state.Kubeconfig); err != nil {
		return fmt.Errorf("kind cluster %s could not be deleted (`canarylab cluster down --provider kind --name %s` tries again): %w", c.opts.Name, c.opts.Name, err)
	}
	return removeFiles(c.state.Kubeconfig, StateFile(c.opts.Dir))
}

func removeFiles(paths ...string) error {
	var errs []error
	for _, path := range paths {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *setup) connect(context.Context, *State) error {
	provider, err := connect(c.opts)
	c.provider = provider
	return err
}

func (c *setup) createOrReuse(ctx context.Context, _ *State) error {
	if err := os.MkdirAll(c.opts.Dir, 0o700); err != nil {
		return err
	}
	existing, err := c.provider.List()
	if err != nil {
		return err
	}
	if slices.Contains(existing, c.opts.Name) {
		return c.reuse()
	}
	if c.opts.HTTPHostPort == 0 {
		if c.opts.HTTPHostPort, err = freePort(); err != nil {
			return err
		}
	}
	c.state.HTTPHostPort = c.opts.HTTPHostPort
	c.state.Created = true
	// Recorded before kind starts, so that a later Up or Down knows whose
	// cluster this is even if this process dies while kind runs.
	if err := c.state.save(); err != nil {
		return err
	}
	c.created = true
	c.opts.Log.Info("creating the kind cluster", "name", c.opts.Name, "image", NodeImage,
		"ingress", fmt.Sprintf("http://127.0.0.1:%d", c.opts.HTTPHostPort))
	return c.create(ctx)
}

// reuse takes over an existing cluster: one canarylab created (its state
// in Dir says so), or any when Options.Reuse is set.
func (c *setup) reuse() error {
	prior, err := ReadState(c.opts.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	switch {
	case prior != nil && prior.Name == c.opts.Name && prior.Created:
		c.opts.Log.Info("reusing the kind cluster canarylab created", "name", c.opts.Name)
		c.state.HTTPHostPort, c.state.Image, c.state.Created = prior.HTTPHostPort, prior.Image, true
	case c.opts.Reuse:
		c.opts.Log.Info("reusing a kind cluster canarylab did not create (reuse)", "name", c.opts.Name)
		c.state.Image, c.state.Created = "", false
	default:
		return fmt.Errorf("%w: a kind cluster named %q exists and canarylab did not create it: run on it with --reuse, or choose another --name", ErrNameTaken, c.opts.Name)
	}
	nodes, err := c.provider.ListNodes(c.opts.Name)
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return fmt.Errorf("the kind cluster %q has no nodes any more: `canarylab cluster down --provider kind --name %s` cleans it up", c.opts.Name, c.opts.Name)
	}
	return nil
}

// interruptGrace is how long an interrupted Up waits for kind's Create to
// give up after its nodes were deleted.
var interruptGrace = 30 * time.Second

// create runs kind's Create, which takes no context. When ctx is done first
// the nodes are deleted under it (unless Keep), which makes it fail soon;
// Up's teardown then deletes whatever it made in the meantime.
func (c *setup) create(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		done <- c.provider.Create(c.opts.Name,
			cluster.CreateWithV1Alpha4Config(Config(c.opts)),
			cluster.CreateWithWaitForReady(c.opts.ReadyTimeout),
			// Not the user's ~/.kube/config: the cluster's own file in Dir.
			cluster.CreateWithKubeconfigPath(c.state.Kubeconfig),
			cluster.CreateWithRetain(c.opts.Keep),
			cluster.CreateWithDisplayUsage(false),
			cluster.CreateWithDisplaySalutation(false))
	}()
	select {
	case err := <-done:
		return withOutput(err)
	case <-ctx.Done():
	}
	if c.opts.Keep {
		c.opts.Log.Warn("interrupted; kind goes on creating the cluster in the background (keep)", "name", c.opts.Name)
		return ctx.Err()
	}
	c.opts.Log.Warn("interrupted; deleting the nodes kind is creating", "name", c.opts.Name)
	deleteErr := c.provider.Delete(c.opts.Name, c.state.Kubeconfig)
	select {
	case <-done:
	case <-time.After(interruptGrace):
		c.opts.Log.Warn("kind did not stop in time; nodes it creates later may be left", "name", c.opts.Name,
			"delete them with", "canarylab cluster down --provider kind --name "+c.opts.Name)
	}
	return errors.Join(ctx.Err(), deleteErr)
}

func (c *setup) writeKubeconfig(context.Context, *State) error {
	kubeconfig, err := c.provider.KubeConfig(c.opts.Name, false)
	if err != nil {
		return err
	}
	return os.WriteFile(c.state.Kubeconfig, []byte(kubeconfig), 0o600)
}

// freePort is a port on 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

// DownResult says what Down did.
type DownResult int

const (
	// Deleted: the cluster's nodes are gone.
	Deleted DownResult = iota
	// Absent: there was no cluster of that name.
	Absent
	// LeftInPlace: canarylab reused the cluster but did not create it, so
	// it is not deleted; only canarylab's state of it is.
	LeftInPlace
)

// Down deletes the named cluster (the nodes and the kubeconfig and state in
// Dir), unless its state in Dir says canarylab only reused it.
func Down(opts Options) (DownResult, error) {
	opts = opts.withDefaults()
	provider, err := connect(opts)
	if err != nil {
		return 0, fmt.Errorf("kind cluster %s: %w", opts.Name, err)
	}
	kubeconfig := filepath.Join(opts.Dir, "kubeconfig")
	files := []string{kubeconfig, StateFile(opts.Dir)}
	if state, err := ReadState(opts.Dir); err == nil && state.Name == opts.Name && !state.Created {
		return LeftInPlace, removeFiles(files...)
	}
	existing, err := provider.List()
	if err != nil {
		return 0, fmt.Errorf("kind cluster %s: %w", opts.Name, err)
	}
	if !slices.Contains(existing, opts.Name) {
		return Absent, removeFiles(files...)
	}
	if err := provider.Delete(opts.Name, kubeconfig); err != nil {
		return 0, fmt.Errorf("kind cluster %s: %w", opts.Name, err)
	}
	return Deleted, removeFiles(files...)
}

// Node is one node of a cluster.
type Node struct {
	Name string
	Role string
}

// Status lists the named cluster's nodes; none when it does not exist.
func Status(opts Options) ([]Node, error) {
	opts = opts.withDefaults()
	provider, err := connect(opts)
	if err != nil {
		return nil, fmt.Errorf("kind cluster %s: %w", opts.Name, err)
	}
	kindNodes, err := provider.ListNodes(opts.Name)
	if err != nil {
		return nil, fmt.Errorf("kind cluster %s: %w", opts.Name, withOutput(err))
	}
	var nodes []Node
	for _, node := range kindNodes {
		role, err := node.Role()
		if err != nil {
			return nil, fmt.Errorf("kind cluster %s, node %s: %w", opts.Name, node, withOutput(err))
		}
		nodes = append(nodes, Node{Name: node.String(), Role: role})
	}
	return nodes, nil
}
