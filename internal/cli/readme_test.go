package cli

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// readme is the repository's README, which these tests hold to the CLI.
const readme = "../../README.md"

// foreignFlags are flags the README gives to other programs: the fixture
// app's binary and docker.
var foreignFlags = map[string]bool{"--image": true, "--input": true}

func readREADME(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// every command of the tree, with its flags.
func commands(root *cobra.Command) []*cobra.Command {
	all := []*cobra.Command{root}
	for _, child := range root.Commands() {
		all = append(all, commands(child)...)
	}
	return all
}

// Every flag the README names is a flag of some canarylab command.
func TestREADMEFlagsExist(t *testing.T) {
	t.Parallel()
	root := newRoot(Streams{Out: io.Discard, Err: io.Discard}, withFakes)
	known := map[string]bool{}
	for _, cmd := range commands(root) {
		cmd.Flags().VisitAll(func(f *pflag.Flag) { known["--"+f.Name] = true })
		cmd.PersistentFlags().VisitAll(func(f *pflag.Flag) { known["--"+f.Name] = true })
	}
	flags := regexp.MustCompile(`(?:^|[\s(\x60\[])(--[a-z][a-z0-9-]*)`).FindAllStringSubmatch(readREADME(t), -1)
	if len(flags) == 0 {
		t.Fatal("no flags found in the README")
	}
	for _, match := range flags {
		if flag := match[1]; !known[flag] && !foreignFlags[flag] {
			t.Errorf("the README names %s, which no canarylab command has", flag)
		}
	}
}

// Every canarylab command line in the README's code blocks parses: its
// command exists and its flags are that command's.
func TestREADMECommandsParse(t *testing.T) {
	t.Parallel()
	lines := commandLines(t, readREADME(t))
	if len(lines) < 10 {
		t.Fatalf("found only %d command lines in the README's code blocks", len(lines))
	}
	for _, line := range lines {
		root := newRoot(Streams{Out: io.Discard, Err: io.Discard}, withFakes)
		args := strings.Fields(line)
		cmd, rest, err := root.Find(args)
		if err != nil {
			t.Errorf("README: %q: %v", line, err)
			continue
		}
		if cmd == root {
			t.Errorf("README: %q names no command", line)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("README: %q: %v", line, err)
		}
	}
}

// commandLines are the arguments of every `canarylab ...` or
// `go run ./cmd/canarylab ...` line of the README's code blocks, without
// comments and placeholders ([FILE|DIR]...).
func commandLines(t *testing.T, text string) []string {
	t.Helper()
	var lines []string
	inBlock := false
	scanner := bufio.NewScanner(strings.NewReader(text))
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			continue
		}
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		for _, prefix := range []string{"go run ./cmd/canarylab ", "canarylab "} {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				rest = strings.ReplaceAll(rest, "[FILE|DIR]...", "")
				lines = append(lines, strings.TrimSpace(rest))
				break
			}
		}
	}
	return lines
}

// The README says how many workshop labs there are: as many as labs/ holds.
func TestREADMELabCount(t *testing.T) {
	t.Parallel()
	match := regexp.MustCompile(`holds (\w+) workshop labs`).FindStringSubmatch(readREADME(t))
	if match == nil {
		t.Fatal(`the README no longer says "holds N workshop labs"`)
	}
	words := map[string]int{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
	said, ok := words[match[1]]
	if !ok {
		said, _ = strconv.Atoi(match[1])
	}
	dirs, err := filepath.Glob("../../labs/[0-9][0-9]-*")
	if err != nil {
		t.Fatal(err)
	}
	if said != len(dirs) {
		t.Errorf("the README says %s workshop labs; labs/ holds %d", match[1], len(dirs))
	}
}

// The README's example scenario runs on the sim and passes: its
// expectations, the reason and the path of weights included, are what the
// run gives.
func TestREADMEScenarioPasses(t *testing.T) {
	t.Parallel()
	text := readREADME(t)
	_, after, _ := strings.Cut(text, "## What a scenario says")
	_, block, _ := strings.Cut(after, "```yaml\n")
	block, _, found := strings.Cut(block, "```")
	if !found || !strings.Contains(block, "kind: Scenario") {
		t.Fatal("no scenario example under \"What a scenario says\"")
	}
	manifests, err := filepath.Abs("../../manifests")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "example.yaml")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(block, "../manifests/", manifests+"/")), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	if code := Run(context.Background(), Streams{Out: &stdout, Err: &stderr}, []string{"run", file, "--quiet"}); code != 0 {
		t.Errorf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}
