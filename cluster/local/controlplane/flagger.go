package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// FlaggerVersion is the Flagger controller run for flagger scenarios
// (the newest the module proxy serves: docs/measurements.md#flagger-version-and-build).
const FlaggerVersion = "v1.44.0"

// Flagger is the Flagger controller's binary. It is not one of Binaries:
// only flagger scenarios (and `cluster up --flagger`) need it, so an Argo
// Rollouts user never builds it. Its go.mod says go 1.26.0, which the
// toolchain here satisfies, so it builds inside a copy of its module.
var Flagger = Binary{Name: "flagger", Version: FlaggerVersion, build: buildFlagger}

func buildFlagger(ctx context.Context, b *Builder, out string) error {
	dir := filepath.Join(b.CacheDir, "build", "flagger-"+FlaggerVersion)
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		if _, err := b.moduleCopy(ctx, "github.com/fluxcd/flagger", FlaggerVersion, dir); err != nil {
			return err
		}
	}
	return b.run(ctx, dir, nil, "build", "-o", out, "./cmd/flagger")
}

// ResolveBinary returns the path of one binary as Resolve does: the
// override variable, BinDir, the cache, else a build into the cache.
func (b *Builder) ResolveBinary(ctx context.Context, bin Binary) (string, error) {
	path, err := b.resolve(ctx, bin, progress{1, 1})
	if err != nil {
		return "", fmt.Errorf("binary %s %s: %w", bin.Name, bin.Version, err)
	}
	return path, nil
}

var (
	canaries        = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "canaries"}
	metricTemplates = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "metrictemplates"}
	alertProviders  = schema.GroupVersionResource{Group: "flagger.app", Version: "v1beta1", Resource: "alertproviders"}
)

// InstallFlagger makes a running cluster ready for Flagger: the binary
// (built on first use) and Flagger's CRDs from its module
// (artifacts/flagger/crd.yaml), server-side applied and established. The
// Istio CRDs Flagger writes are already there (applied at Up). It returns
// the binary's path. Applying unchanged CRDs again changes nothing, so
// every flagger run calls it.
func InstallFlagger(ctx context.Context, state *State, builder *Builder) (string, error) {
	path, err := builder.ResolveBinary(ctx, Flagger)
	if err != nil {
		return "", err
	}
	return path, InstallFlaggerCRDs(ctx, state, builder)
}

// InstallFlaggerCRDs applies Flagger's CRDs from its module (downloaded,
// not built) and waits until Flagger's resources can be listed.
func InstallFlaggerCRDs(ctx context.Context, state *State, builder *Builder) error {
	dir, err := builder.ModuleDir(ctx, "github.com/fluxcd/flagger", FlaggerVersion)
	if err != nil {
		return err
	}
	config, err := state.RESTConfig()
	if err != nil {
		return err
	}
	// The CRD's schema has formats the apiserver does not know ("url"):
	// its warnings say nothing a user can act on.
	config.WarningHandler = rest.NoWarnings{}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}
	file := filepath.Join(dir, "artifacts", "flagger", "crd.yaml")
	names, err := applyCRDFile(ctx, client, file)
	if err != nil {
		return err
	}
	if err := waitEstablished(ctx, client, names, 60*time.Second); err != nil {
		return err
	}
	// Flagger exits at start when a list of its resources fails
	// (cmd/flagger/main.go verifyCRDs), and for about a second after new
	// CRDs are established the apiserver answers 429 to those lists
	// (docs/measurements.md#running-flagger-locally): wait until they succeed.
	return poll(ctx, 30*time.Second, func() error {
		for _, resource := range []schema.GroupVersionResource{canaries, metricTemplates, alertProviders} {
			if _, err := client.Resource(resource).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
				return fmt.Errorf("listing %s: %w", resource.Resource, err)
			}
		}
		return nil
	})
}

// applyCRDFile server-side applies every CRD of a file and returns their names.
func applyCRDFile(ctx context.Context, client dynamic.Interface, file string) ([]string, error) {
	objects, err := readObjects(file)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, obj := range objects {
		if obj.GetKind() != "CustomResourceDefinition" {
			continue
		}
		if err := apply(ctx, client, crds, obj); err != nil {
			return nil, fmt.Errorf("applying CRD %s from %s: %w", obj.GetName(), file, err)
		}
		names = append(names, obj.GetName())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no CRD in %s", file)
	}
	return names, nil
}

// waitEstablished waits until every named CRD is Established.
func waitEstablished(ctx context.Context, client dynamic.Interface, names []string, deadline time.Duration) error {
	return poll(ctx, deadline, func() error { return crdsEstablished(ctx, client, names) })
}

// crdsEstablished is nil once every named CRD has condition Established.
func crdsEstablished(ctx context.Context, client dynamic.Interface, names []string) error {
	for _, name := range names {
		got, err := client.Resource(crds).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("CRD %s not found yet", name)
			}
			return err
		}
		conditions, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		established := false
		for _, condition := range conditions {
			if m, ok := condition.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				established = true
			}
		}
		if !established {
			return fmt.Errorf("CRD %s is not established yet", name)
		}
	}
	return nil
}

// poll runs check every 200 ms until it succeeds or the deadline passes.
func poll(ctx context.Context, deadline time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	for {
		last := check()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("not done after %s: %w", deadline, last)
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// FlaggerOptions start one Flagger controller.
type FlaggerOptions struct {
	// Binary is the flagger binary (InstallFlagger's answer).
	Binary string
	// Namespace is the only namespace it watches: each run has its own
	// controller, pointed at its own data plane.
	Namespace string
	// MetricsServer is -metrics-server, the Prometheus API of the run.
	MetricsServer string
	// EventWebhook is -event-webhook: every event Flagger records is
	// posted there.
	EventWebhook string
	// MeshProvider is -mesh-provider (istio, linkerd, ...).
	MeshProvider string
}

// RunProcess is a controller started for one run, beside the cluster's
// own processes: it is stopped by its run, and by Down if the run could
// not (its record is kept in <dir>/run-processes/).
type RunProcess struct {
	process
	dir, record string
	// Started is when the process was started; Ready when it served its
	// health endpoint (Flagger's control-loop ticker starts then).
	Started, Ready time.Time
}

// StartFlagger starts a Flagger controller for one run and waits until it
// serves its health endpoint. The flags are Flagger's own
// (cmd/flagger/main.go); -control-loop-interval keeps its default, 10s.
func (s *State) StartFlagger(ctx context.Context, opts FlaggerOptions) (*RunProcess, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	mesh := opts.MeshProvider
	if mesh == "" {
		mesh = "istio"
	}
	args := []string{"-kubeconfig", s.Kubeconfig, "-port", strconv.Itoa(ports[0]),
		"-metrics-server", opts.MetricsServer, "-mesh-provider", mesh,
		"-log-level", "info", "-zap-encoding", "console"}
	if opts.Namespace != "" {
		args = append(args, "-namespace", opts.Namespace)
	}
	if opts.EventWebhook != "" {
		args = append(args, "-event-webhook", opts.EventWebhook)
	}
	name := "flagger"
	if opts.Namespace != "" {
		name += "-" + opts.Namespace
	}
	return s.startRunProcess(ctx, name, opts.Binary, args, "http://127.0.0.1:"+strconv.Itoa(ports[0])+"/healthz", 60*time.Second)
}

func (s *State) startRunProcess(ctx context.Context, name, path string, args []string, health string, deadline time.Duration) (*RunProcess, error) {
	started := time.Now()
	p, err := start(s.Dir, name, path, args, nil)
	if err != nil {
		return nil, err
	}
	run := &RunProcess{process: *p, Started: started, dir: s.Dir, record: filepath.Join(s.Dir, "run-processes", name+".json")}
	if err := run.save(); err != nil {
		run.Stop()
		return nil, err
	}
	if err := waitFor(ctx, &run.process, name, deadline, httpOK(health, "")); err != nil {
		run.Stop()
		return nil, err
	}
	run.Ready = time.Now()
	return run, nil
}

func (p *RunProcess) save() error {
	if err := os.MkdirAll(filepath.Dir(p.record), 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(p.process)
	if err != nil {
		return err
	}
	return os.WriteFile(p.record, data, 0o600)
}

// Stop stops the process and forgets its record.
func (p *RunProcess) Stop() error {
	err := stop(p.process, 5*time.Second)
	if removeErr := os.Remove(p.record); removeErr != nil && !errors.Is(removeErr, os.ErrNotExist) {
		err = errors.Join(err, removeErr)
	}
	return err
}

// Halt stops the process, keeping its record so that Resume starts it again.
func (p *RunProcess) Halt() error { return stop(p.process, 5*time.Second) }

// Resume starts a halted process again with its arguments (the
// controller-restart fault); it does not wait for it to be ready.
func (p *RunProcess) Resume() error {
	if alive(p.PID) {
		return nil
	}
	started, err := start(p.dir, p.Name, p.Path, p.Args, p.Env)
	if err != nil {
		return err
	}
	p.process = *started
	p.Started = time.Now()
	return p.save()
}

// LogTail is the end of the process's log, for errors.
func (p *RunProcess) LogTail() string { return logTail(&p.process) }

// stopRunProcesses stops what runs left behind (a run that was killed
// before it could stop its controller). A PID is only signalled while it
// still runs the recorded program, in case it was reused.
func stopRunProcesses(dir string) {
	records, _ := filepath.Glob(filepath.Join(dir, "run-processes", "*.json"))
	for _, record := range records {
		data, err := os.ReadFile(record)
		if err != nil {
			continue
		}
		var p process
		if json.Unmarshal(data, &p) == nil && runs(p) {
			stop(p, 5*time.Second)
		}
		os.Remove(record)
	}
}

// runs reports whether p's PID still runs p's program (Linux's /proc; elsewhere
// whether the PID is alive).
func runs(p process) bool {
	if !alive(p.PID) {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/cmdline")
	if err != nil {
		return true
	}
	program, _, _ := strings.Cut(string(cmdline), "\x00")
	return program == p.Path
}
