package cli

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostileCase is one file of testdata/hostile: a scenario a careless or
// adversarial user could write, with its expected exit code and message
// in its header comments ("# exit: 2", "# message: ...").
type hostileCase struct {
	file    string
	exit    int
	message string
}

var hostileHeader = regexp.MustCompile(`^# (exit|message): ?(.*)$`)

func readHostileCases(t *testing.T) []hostileCase {
	t.Helper()
	files, err := filepath.Glob("testdata/hostile/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no hostile cases in testdata/hostile: %v", err)
	}
	var cases []hostileCase
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		c := hostileCase{file: file, exit: -1}
		scanner := bufio.NewScanner(bytes.NewReader(data))
		for scanner.Scan() {
			match := hostileHeader.FindStringSubmatch(scanner.Text())
			if match == nil {
				continue
			}
			switch match[1] {
			case "exit":
				c.exit, err = strconv.Atoi(match[2])
				if err != nil {
					t.Fatalf("%s: exit %q is not a number", file, match[2])
				}
			case "message":
				c.message = match[2]
			}
		}
		if c.exit < 0 || (c.exit != ExitPassed && c.message == "") {
			t.Fatalf("%s: its header needs '# exit: N' and, unless it passes, '# message: ...'", file)
		}
		cases = append(cases, c)
	}
	return cases
}

// TestHostileInputs runs every hostile case through `canarylab run`: each
// ends within its deadline with its exit code, its message at the file's
// line, and leaves nothing in the temporary directory.
func TestHostileInputs(t *testing.T) {
	temp := t.TempDir()
	t.Setenv("TMPDIR", temp)
	for _, c := range readHostileCases(t) {
		t.Run(strings.TrimSuffix(filepath.Base(c.file), ".yaml"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := Run(ctx, Streams{Out: &out, Err: &errOut}, []string{"run", "--quiet", c.file})
			if ctx.Err() != nil {
				t.Fatalf("did not end within 30s (exit %d):\n%s", code, errOut.String())
			}
			if code != c.exit {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.exit, out.String(), errOut.String())
			}
			if c.exit == ExitInvalid {
				// The problem is reported at file:line.
				where := regexp.MustCompile(regexp.QuoteMeta(c.file) + `:\d+: .*` + regexp.QuoteMeta(c.message) + `|\.yaml:\d+: .*` + regexp.QuoteMeta(c.message))
				if !where.MatchString(errOut.String()) {
					t.Errorf("stderr does not say %q at a file:line:\n%s", c.message, errOut.String())
				}
			} else if !strings.Contains(out.String()+errOut.String(), c.message) {
				t.Errorf("output does not say %q:\n%s%s", c.message, out.String(), errOut.String())
			}
		})
	}
	left, err := os.ReadDir(temp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, entry := range left {
		names = append(names, entry.Name())
	}
	if len(names) > 0 {
		t.Errorf("left in the temporary directory: %s", strings.Join(names, ", "))
	}
}

// TestHostileCasesAreInvalidForValidateToo: validate says what run says.
func TestHostileCasesAreInvalidForValidateToo(t *testing.T) {
	t.Parallel()
	for _, c := range readHostileCases(t) {
		if c.exit != ExitInvalid {
			continue
		}
		code, _, stderr := run(t, "validate", c.file)
		if code != ExitInvalid || !strings.Contains(stderr, c.message) {
			t.Errorf("validate %s: exit %d, want %d with %q:\n%s", c.file, code, ExitInvalid, c.message, stderr)
		}
	}
}
