package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/exec"
	"sigs.k8s.io/kind/pkg/log"
)

// Provider is the part of kind's *cluster.Provider that canarylab uses.
type Provider interface {
	// Create provisions the cluster and waits for it as the options say.
	Create(name string, options ...cluster.CreateOption) error
	// Delete removes the cluster's nodes and its entry in the kubeconfig file
	// at explicitKubeconfigPath.
	Delete(name, explicitKubeconfigPath string) error
	// List names the clusters that have nodes; it fails when the container
	// runtime does not answer.
	List() ([]string, error)
	// ListNodes lists the cluster's node containers.
	ListNodes(name string) ([]nodes.Node, error)
	// ListInternalNodes lists the nodes that run pods: all but an external
	// load balancer (kind's `load image-archive` loads into these).
	ListInternalNodes(name string) ([]nodes.Node, error)
	// KubeConfig is the cluster's kubeconfig, reaching the API server from
	// the host unless internal.
	KubeConfig(name string, internal bool) (string, error)
}

var _ Provider = (*cluster.Provider)(nil)

// ErrNoDocker means kind has no container runtime to run on: Docker is not
// installed, or it does not answer.
var ErrNoDocker = errors.New("docker is not available")

// DetectProvider is kind's provider for the container runtime found on this
// machine (Docker first, then nerdctl and podman, as kind detects them), its
// messages logged at debug level and its progress at info.
func DetectProvider(logger *slog.Logger) (Provider, error) {
	option, err := cluster.DetectNodeProvider()
	if err != nil {
		return nil, err
	}
	return cluster.NewProvider(option, cluster.ProviderWithLogger(kindLogger{logger})), nil
}

// connect finds the container runtime and checks that it answers: kind's
// detection only runs `docker -v`, which works without a daemon.
func connect(opts Options) (Provider, error) {
	provider, err := opts.NewProvider(opts.Log)
	if err != nil {
		return nil, fmt.Errorf("%w: no docker command found: install Docker (Docker Engine, or Docker Desktop), start it, and run again: %w", ErrNoDocker, err)
	}
	if _, err := provider.List(); err != nil {
		return nil, fmt.Errorf("%w: docker is installed but does not answer: start it (`sudo systemctl start docker`, or open Docker Desktop), make sure this user may use it, and run again: %w", ErrNoDocker, withOutput(err))
	}
	return provider, nil
}

// withOutput adds the last lines a failed command printed to its error:
// kind's errors name the command and its exit status only.
func withOutput(err error) error {
	runErr := exec.RunErrorForError(err)
	if runErr == nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(runErr.Output)), "\n")
	if len(lines) > outputLines {
		lines = append([]string{"..."}, lines[len(lines)-outputLines:]...)
	}
	output := strings.Join(lines, "\n")
	if output == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, output)
}

// outputLines is how much of a failed command's output an error carries.
const outputLines = 20

// kindLogger carries kind's log lines into slog: its progress (verbosity 0:
// "Ensuring node image", "Starting control-plane") at info, the rest at
// debug.
type kindLogger struct{ log *slog.Logger }

var _ log.Logger = kindLogger{}

func (l kindLogger) Warn(message string) { l.log.Warn(clean(message), "from", "kind") }
func (l kindLogger) Warnf(format string, args ...any) {
	l.log.Warn(clean(fmt.Sprintf(format, args...)), "from", "kind")
}
func (l kindLogger) Error(message string) { l.log.Error(clean(message), "from", "kind") }
func (l kindLogger) Errorf(format string, args ...any) {
	l.log.Error(clean(fmt.Sprintf(format, args...)), "from", "kind")
}
func (l kindLogger) V(level log.Level) log.InfoLogger {
	if level == 0 {
		return kindInfo{l.log, slog.LevelInfo}
	}
	return kindInfo{l.log, slog.LevelDebug}
}

type kindInfo struct {
	log   *slog.Logger
	level slog.Level
}

func (l kindInfo) Info(message string) {
	if message = clean(message); message != "" {
		l.log.Log(context.Background(), l.level, message, "from", "kind")
	}
}
func (l kindInfo) Infof(format string, args ...any) { l.Info(fmt.Sprintf(format, args...)) }
func (l kindInfo) Enabled() bool                    { return l.log.Enabled(context.Background(), l.level) }

func clean(message string) string { return strings.TrimSpace(message) }
