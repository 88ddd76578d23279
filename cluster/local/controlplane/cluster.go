package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

//go:embed kwok.yaml
var kwokConfig []byte

// State is what `cluster up` leaves behind for `status`, `down` and runs:
// it is written to <dir>/state.json.
type State struct {
	Dir        string    `json:"dir"`
	Kubeconfig string    `json:"kubeconfig"`
	Server     string    `json:"server"`
	Token      string    `json:"token"`
	Processes  []process `json:"processes"`
	Started    time.Time `json:"started"`
}

// Options of Up.
type Options struct {
	// Dir holds the cluster's data, logs, credentials and state.
	Dir     string
	Builder *Builder
	Log     *slog.Logger
	// StepTimeout, if set, replaces each step's own readiness deadline
	// (30-90 s).
	StepTimeout time.Duration
}

// deadline is a step's readiness deadline.
func (c *cluster) deadline(own time.Duration) time.Duration {
	if c.opts.StepTimeout > 0 {
		return c.opts.StepTimeout
	}
	return own
}

// step is one named part of the set-up.
type step struct {
	name string
	run  func(ctx context.Context) error
}

// cluster is the set-up in progress.
type cluster struct {
	opts     Options
	bins     map[string]string
	state    State
	ports    map[string]int
	running  []*process
	saKey    string
	tokens   string
	kwokConf string
}

// StateFile is where a cluster's state is kept.
func StateFile(dir string) string { return filepath.Join(dir, "state.json") }

// Up starts the control plane as a list of named steps, logged as they
// run; if one fails, everything already started is stopped before Up
// returns the error, which names the step.
func Up(ctx context.Context, opts Options) (*State, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if existing, err := ReadState(opts.Dir); err == nil && existing.Running() {
		return nil, fmt.Errorf("a local cluster already runs in %s (kubeconfig %s): use it, or run `canarylab cluster down` first", opts.Dir, existing.Kubeconfig)
	}
	c := &cluster{opts: opts, ports: map[string]int{}}
	steps := []step{
		{"binaries", c.resolveBinaries},
		{"credentials", c.credentials},
		{"etcd", c.startEtcd},
		{"kube-apiserver", c.startAPIServer},
		{"kube-controller-manager", c.startControllerManager},
		{"kube-scheduler", c.startScheduler},
		{"kwok", c.startKwok},
		{"fake node", c.createNode},
		{"CRDs", c.applyCRDs},
		{"rollouts-controller", c.startRollouts},
	}
	for _, s := range steps {
		started := time.Now()
		opts.Log.Info("step", "name", s.name)
		if err := s.run(ctx); err != nil {
			opts.Log.Error("step failed; stopping what was started", "name", s.name, "error", err)
			c.teardown()
			return nil, fmt.Errorf("local cluster, step %s: %w", s.name, err)
		}
		opts.Log.Info("step done", "name", s.name, "took", time.Since(started).Round(10*time.Millisecond))
	}
	c.state.Started = time.Now()
	if err := c.writeState(); err != nil {
		c.teardown()
		return nil, err
	}
	return &c.state, nil
}

func (c *cluster) teardown() {
	for i := len(c.running) - 1; i >= 0; i-- {
		stop(*c.running[i], 5*time.Second)
	}
}

func (c *cluster) writeState() error {
	for _, p := range c.running {
		c.state.Processes = append(c.state.Processes, *p)
	}
	return c.state.save()
}

// ReadState reads a cluster's state file.
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

// Running reports whether every process of the cluster is alive.
func (s *State) Running() bool {
	if len(s.Processes) == 0 {
		return false
	}
	for _, p := range s.Processes {
		if !alive(p.PID) {
			return false
		}
	}
	return true
}

// Down stops every process of the cluster in reverse start order (first
// any controller a run started and left behind) and removes its directory
// unless keep is set.
func Down(dir string, keep bool) error {
	state, err := ReadState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	stopRunProcesses(dir)
	for i := len(state.Processes) - 1; i >= 0; i-- {
		stop(state.Processes[i], 5*time.Second)
	}
	if keep {
		return os.Remove(StateFile(dir))
	}
	return os.RemoveAll(dir)
}

func (c *cluster) resolveBinaries(ctx context.Context) error {
	bins, err := c.opts.Builder.Resolve(ctx)
	c.bins = bins
	return err
}

func (c *cluster) credentials(context.Context) error {
	if err := os.MkdirAll(c.opts.Dir, 0o700); err != nil {
		return err
	}
	c.state.Dir = c.opts.Dir
	names := []string{"etcd-client", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok", "rollouts-healthz", "rollouts-metrics"}
	ports, err := freePorts(len(names))
	if err != nil {
		return err
	}
	for i, name := range names {
		c.ports[name] = ports[i]
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	c.saKey = filepath.Join(c.opts.Dir, "sa.key")
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(c.saKey, keyPEM, 0o600); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.saKey+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return err
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	c.state.Token = hex.EncodeToString(secret)
	c.tokens = filepath.Join(c.opts.Dir, "tokens.csv")
	if err := os.WriteFile(c.tokens, []byte(c.state.Token+`,admin,admin-uid,"system:masters"`+"\n"), 0o600); err != nil {
		return err
	}
	c.state.Server = "https://127.0.0.1:" + strconv.Itoa(c.ports["apiserver"])
	c.state.Kubeconfig = filepath.Join(c.opts.Dir, "kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: canarylab-local
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: %q}
contexts:
- name: canarylab-local
  context: {cluster: canarylab-local, user: admin}
current-context: canarylab-local
`, c.state.Server, c.state.Token)
	return os.WriteFile(c.state.Kubeconfig, []byte(kubeconfig), 0o600)
}

func (c *cluster) launch(name string, args []string, env ...string) (*process, error) {
	p, err := start(c.opts.Dir, name, c.bins[name], args, env)
	if err != nil {
		return nil, err
	}
	c.running = append(c.running, p)
	return p, nil
}

func (c *cluster) startEtcd(ctx context.Context) error {
	client := "http://127.0.0.1:" + strconv.Itoa(c.ports["etcd-client"])
	peer := "http://127.0.0.1:" + strconv.Itoa(c.ports["etcd-peer"])
	p, err := c.launch("etcd", []string{"--data-dir", filepath.Join(c.opts.Dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default=" + peer, "--unsafe-no-fsync", "--quota-backend-bytes", strconv.Itoa(1 << 30)})
	if err != nil {
		return err
	}
	return waitFor(ctx, p, "etcd", c.deadline(30*time.Second), httpOK(client+"/health", ""))
}

func (c *cluster) startAPIServer(ctx context.Context) error {
	p, err := c.launch("kube-apiserver", []string{
		"--etcd-servers", "http://127.0.0.1:" + strconv.Itoa(c.ports["etcd-client"]),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(c.ports["apiserver"]),
		"--cert-dir", filepath.Join(c.opts.Dir, "certs"),
		"--service-account-key-file", c.saKey + ".pub", "--service-account-signing-key-file", c.saKey,
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--token-auth-file", c.tokens, "--authorization-mode", "AlwaysAllow",
		"--service-cluster-ip-range", "10.96.0.0/16",
		// Without it the apiserver loops on "127.0.0.1 is a loopback IP".
		"--endpoint-reconciler-type", "none",
	})
	if err != nil {
		return err
	}
	return waitFor(ctx, p, "kube-apiserver", c.deadline(90*time.Second), httpOK(c.state.Server+"/readyz", c.state.Token))
}

func (c *cluster) startControllerManager(ctx context.Context) error {
	port := strconv.Itoa(c.ports["controller-manager"])
	p, err := c.launch("kube-controller-manager", []string{
		"--kubeconfig", c.state.Kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", port,
		"--service-account-private-key-file", c.saKey, "--use-service-account-credentials=false",
		"--controllers", "*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
	})
	if err != nil {
		return err
	}
	return waitFor(ctx, p, "kube-controller-manager", c.deadline(60*time.Second), httpOK("https://127.0.0.1:"+port+"/healthz", ""))
}

func (c *cluster) startScheduler(ctx context.Context) error {
	port := strconv.Itoa(c.ports["scheduler"])
	p, err := c.launch("kube-scheduler", []string{"--kubeconfig", c.state.Kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", port})
	if err != nil {
		return err
	}
	return waitFor(ctx, p, "kube-scheduler", c.deadline(60*time.Second), httpOK("https://127.0.0.1:"+port+"/healthz", ""))
}

func (c *cluster) startKwok(ctx context.Context) error {
	c.kwokConf = filepath.Join(c.opts.Dir, "kwok.yaml")
	if err := os.WriteFile(c.kwokConf, kwokConfig, 0o644); err != nil {
		return err
	}
	port := strconv.Itoa(c.ports["kwok"])
	p, err := c.launch("kwok", []string{"--kubeconfig", c.state.Kubeconfig, "--config", c.kwokConf,
		"--server-address", "127.0.0.1:" + port, "--node-lease-duration-seconds", "40"})
	if err != nil {
		return err
	}
	return waitFor(ctx, p, "kwok", c.deadline(30*time.Second), httpOK("http://127.0.0.1:"+port+"/healthz", ""))
}

func (c *cluster) startRollouts(ctx context.Context) error {
	healthz := strconv.Itoa(c.ports["rollouts-healthz"])
	p, err := c.launch("rollouts-controller", []string{"--kubeconfig", c.state.Kubeconfig, "--leader-elect=false",
		"--healthzPort", healthz, "--metricsPort", strconv.Itoa(c.ports["rollouts-metrics"])}, "POD_NAMESPACE=argo-rollouts")
	if err != nil {
		return err
	}
	return waitFor(ctx, p, "rollouts-controller", c.deadline(60*time.Second), httpOK("http://127.0.0.1:"+healthz+"/healthz", ""))
}

// StopProcess stops one process of a running cluster (a fault: the rollout
// controller going down) and records it in the state file.
func (s *State) StopProcess(name string) error {
	for i, p := range s.Processes {
		if p.Name == name {
			if err := stop(p, 5*time.Second); err != nil {
				return err
			}
			s.Processes[i].PID = 0
			return s.save()
		}
	}
	return fmt.Errorf("the local cluster has no process %s", name)
}

// StartProcess starts a stopped process of the cluster again, with the
// arguments it first ran with.
func (s *State) StartProcess(name string) error {
	for i, p := range s.Processes {
		if p.Name != name {
			continue
		}
		if alive(p.PID) {
			return nil
		}
		started, err := start(s.Dir, p.Name, p.Path, p.Args, p.Env)
		if err != nil {
			return err
		}
		s.Processes[i].PID = started.PID
		return s.save()
	}
	return fmt.Errorf("the local cluster has no process %s", name)
}

func (s *State) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(StateFile(s.Dir), data, 0o600)
}

// LockNamespace makes runs on this cluster take turns in a namespace: two
// scenarios applying objects of the same names at once would overwrite
// each other. waiting is called once if another run holds it.
func (s *State) LockNamespace(ctx context.Context, namespace string, waiting func()) (func(), error) {
	return LockFile(ctx, filepath.Join(s.Dir, "run-"+namespace+".lock"), waiting)
}
