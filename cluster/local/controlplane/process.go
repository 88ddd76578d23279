package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// process is one started program, in its own process group so that
// stopping it stops its children too.
type process struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Log  string `json:"log"`
	// Path, Args and Env start it again (a controller restart).
	Path string   `json:"path"`
	Args []string `json:"args"`
	Env  []string `json:"env,omitempty"`
	cmd  *exec.Cmd
	done chan error
}

// start runs a program detached from the terminal (Ctrl-C reaches canarylab,
// which stops it in order), logging to dir/logs/<name>.log.
func start(dir, name, path string, args, env []string) (*process, error) {
	logPath := filepath.Join(dir, "logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, path, err)
	}
	p := &process{Name: name, PID: cmd.Process.Pid, Log: logPath, Path: path, Args: args, Env: env, cmd: cmd, done: make(chan error, 1)}
	go func() {
		p.done <- cmd.Wait()
		logFile.Close()
	}()
	return p, nil
}

// exited reports whether a process this run started has ended, and how.
func (p *process) exited() (bool, error) {
	if p.done == nil {
		return !alive(p.PID), nil
	}
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	default:
		return false, nil
	}
}

// ProcessAlive reports whether a PID still runs.
func ProcessAlive(pid int) bool { return alive(pid) }

// alive reports whether a PID still runs (for processes of an earlier run).
func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// stop sends SIGTERM to the process group and waits up to grace for it to
// end, then SIGKILL.
func stop(p process, grace time.Duration) error {
	if p.PID <= 0 || !alive(p.PID) {
		return nil
	}
	syscall.Kill(-p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if ended, _ := p.exited(); ended || !alive(p.PID) {
			return nil
		}
		waitABit(50 * time.Millisecond)
	}
	syscall.Kill(-p.PID, syscall.SIGKILL)
	return nil
}

// waitABit paces a poll of something canarylab cannot watch (a PID, an
// HTTP endpoint); every such poll runs against a deadline.
func waitABit(d time.Duration) { <-time.After(d) }

// logTail is the end of a process's log, for errors.
func logTail(p *process) string {
	data, err := os.ReadFile(p.Log)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(tail(string(data), 1500))
}

// waitFor polls check until it succeeds, the deadline passes, or the
// process dies; errors name the step and carry the log's tail.
func waitFor(ctx context.Context, p *process, step string, deadline time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var last error
	for {
		if ended, exitErr := p.exited(); ended {
			return fmt.Errorf("step %s: %s exited (%v) before it was ready; its log (%s) ends:\n%s", step, p.Name, exitErr, p.Log, logTail(p))
		}
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("step %s: %s not ready after %s: %v; its log (%s) ends:\n%s", step, p.Name, deadline, last, p.Log, logTail(p))
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// httpOK checks that url answers 200, with an optional bearer token; the
// control plane's serving certificates are self-signed, on loopback.
func httpOK(url, token string) func() error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return func() error {
		request, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			request.Header.Set("Authorization", "Bearer "+token)
		}
		response, err := client.Do(request)
		if err != nil {
			return err
		}
		response.Body.Close()
		if response.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", url, response.Status)
		}
		return nil
	}
}

// freePorts picks n free loopback ports at once (held open together so
// they differ).
func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
