package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/canarylab/canarylab/fixtures"
	"gopkg.in/yaml.v3"
)

// ErrInvalid marks an error caused by invalid input (exit code 2).
var ErrInvalid = errors.New("invalid input")

// Problem is one thing wrong with an input file.
type Problem struct {
	File    string
	Line    int
	Message string
}

func (p Problem) String() string { return Position(p.File, p.Line) + ": " + p.Message }

// Position formats file:line, or just file when the line is unknown.
func Position(file string, line int) string {
	if line <= 0 {
		return file
	}
	return file + ":" + strconv.Itoa(line)
}

// InvalidError lists every problem found in the input.
type InvalidError struct {
	Problems []Problem
}

func (e *InvalidError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, problem := range e.Problems {
		lines[i] = problem.String()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// problems collects problems in order and turns them into one error.
type problems struct{ list []Problem }

func (ps *problems) add(file string, line int, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	sort.SliceStable(ps.list, func(i, j int) bool {
		if ps.list[i].File != ps.list[j].File {
			return ps.list[i].File < ps.list[j].File
		}
		return ps.list[i].Line < ps.list[j].Line
	})
	return &InvalidError{Problems: ps.list}
}

// Load reads, defaults and validates the scenario file at path, and reads
// the manifests it names. Every problem is reported at once, with file:line.
func Load(path string) (*Scenario, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, &InvalidError{Problems: []Problem{{File: path, Message: fmt.Sprintf("cannot read scenario: %v", err)}}}
	}
	return Parse(path, data)
}

// fileType names what a path that is not a regular file is.
func fileType(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// ReadFile reads an input file: a regular file (never a device, a FIFO or
// a directory, which could block or never end) of at most MaxManifestBytes.
func ReadFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, errors.Unwrap(err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s, not a regular file: give a YAML file", fileType(info.Mode()))
	}
	if info.Size() > MaxManifestBytes {
		return nil, fmt.Errorf("the file is %d bytes: the limit is %d", info.Size(), MaxManifestBytes)
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, errors.Unwrap(err)
	}
	defer file.Close()
	// The file may have grown since Stat.
	data, err := io.ReadAll(io.LimitReader(file, MaxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("the file is over %d bytes", MaxManifestBytes)
	}
	return data, nil
}

// Parse is Load for a file already in memory; path names it in errors and
// anchors its manifests.
func Parse(path string, data []byte) (*Scenario, error) {
	var ps problems
	sc := &Scenario{Path: path, Dir: filepath.Dir(path)}

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line, message := splitSyntaxError(err.Error())
		ps.add(path, line, "malformed YAML: %s", message)
		return nil, ps.err()
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		ps.add(path, 1, "the file is empty: write a Scenario (apiVersion: %s, kind: %s)", APIVersion, Kind)
		return nil, ps.err()
	}

	decoder := yaml.NewDecoder(bytes.NewReader(data))
	decoder.KnownFields(true)
	if err := decoder.Decode(sc); err != nil {
		var typeErr *yaml.TypeError
		if errors.As(err, &typeErr) {
			for _, message := range typeErr.Errors {
				line, text := splitYAMLError(message)
				ps.add(path, line, "%s", friendlyYAMLMessage(text))
			}
		} else {
			line, message := splitYAMLError(err.Error())
			ps.add(path, line, "%s", message)
		}
	}
	var extra yaml.Node
	if err := decoder.Decode(&extra); err != io.EOF {
		ps.add(path, extra.Line, "a scenario file holds one document; put further scenarios in their own files")
	}
	sc.lines = map[string]int{}
	indexLines(root.Content[0], "", sc.lines)

	applyDefaults(sc)
	sc.validate(&ps)
	// Manifest problems are reported together with the scenario's own.
	sc.loadManifests(&ps)
	return sc, ps.err()
}

var yamlLinePrefix = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// splitYAMLError separates yaml.v3's "line N: " prefix from the message.
func splitYAMLError(message string) (int, string) {
	message = strings.TrimPrefix(message, "yaml: ")
	match := yamlLinePrefix.FindStringSubmatch(message)
	if match == nil {
		return 0, message
	}
	line, _ := strconv.Atoi(match[1])
	rest := message[len(match[0]):]
	// Nested errors of our own UnmarshalYAML carry the line again.
	if again := yamlLinePrefix.FindStringSubmatch(rest); again != nil {
		rest = rest[len(again[0]):]
	}
	return line, rest
}

// parserProblem matches yaml.v3's parser (not scanner) errors, whose line
// is the 0-based line of the construct they were parsing (yaml.v3
// yaml.go parser.fail adds 1 for scanner errors only).
var parserProblem = regexp.MustCompile(`did not find expected (key|node content|<document start>|',' or '\]'|',' or '\}'|'-' indicator)`)

// splitSyntaxError is splitYAMLError with the parser's line made 1-based.
func splitSyntaxError(message string) (int, string) {
	line, text := splitYAMLError(message)
	if line > 0 && parserProblem.MatchString(text) {
		line++
	}
	return line, text
}

var unknownField = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)

func friendlyYAMLMessage(text string) string {
	if match := unknownField.FindStringSubmatch(text); match != nil {
		return fmt.Sprintf("unknown field %q (in %s): check its spelling against the scenario file's fields in docs/architecture.md#the-scenario-file or the README's \"What a scenario says\"", match[1], strings.TrimPrefix(match[2], "scenario."))
	}
	return text
}

// indexLines records the line of every mapping key and sequence item under
// node, keyed by its dotted path ("spec.events[0].at").
func indexLines(node *yaml.Node, path string, lines map[string]int) {
	if _, seen := lines[path]; !seen {
		lines[path] = node.Line
	}
	switch node.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, value := node.Content[i], node.Content[i+1]
			child := key.Value
			if path != "" {
				child = path + "." + key.Value
			}
			lines[child] = key.Line
			indexLines(value, child, lines)
		}
	case yaml.SequenceNode:
		for i, item := range node.Content {
			indexLines(item, fmt.Sprintf("%s[%d]", path, i), lines)
		}
	}
}

// Line is the line of a field path such as "spec.events[1].at"; it falls back
// to the nearest enclosing field, then to the first line.
func (sc *Scenario) Line(path string) int {
	for path != "" {
		if line, ok := sc.lines[path]; ok {
			return line
		}
		cut := strings.LastIndexAny(path, ".[")
		if cut < 0 {
			break
		}
		path = path[:cut]
	}
	return 1
}

func applyDefaults(sc *Scenario) {
	if sc.Spec.Controller == "" {
		sc.Spec.Controller = ControllerArgoRollouts
	}
	if sc.Spec.Load.RPS == 0 && sc.lines["spec.load.rps"] == 0 {
		sc.Spec.Load.RPS = DefaultRPS
	}
	if sc.Spec.Load.Duration.Duration == 0 && sc.lines["spec.load.duration"] == 0 {
		sc.Spec.Load.Duration.Duration = DefaultRunLimit
	}
	for i := range sc.Spec.Events {
		DefaultEvent(&sc.Spec.Events[i])
	}
	sc.Profiles = fixtures.Default().Merge(sc.Spec.Profiles)
}

// DefaultEvent fills what a fault leaves out: the target, pod-kill's
// count, controller-restart's downtime, gitops-revert's period. The loader
// and the live view apply it before CheckEvent.
func DefaultEvent(event *Event) {
	if event.Fault == "" {
		return
	}
	if event.Target == "" {
		event.Target = TargetCanary
	}
	switch event.Fault {
	case FaultPodKill:
		if event.Count == 0 {
			event.Count = DefaultPodKillCount
		}
	case FaultControllerRestart:
		if event.For.Duration == 0 {
			event.For.Duration = DefaultControllerDowntime
		}
	case FaultGitopsRevert:
		if event.Every.Duration == 0 {
			event.Every.Duration = DefaultGitopsRevertEvery
		}
	}
}

// LoadAll loads every scenario named by paths: files, or directories searched
// for scenario files (ExpandPaths). Problems of all files are joined.
func LoadAll(paths []string) ([]*Scenario, error) {
	files, err := ExpandPaths(paths)
	if err != nil {
		return nil, err
	}
	var scenarios []*Scenario
	var all []Problem
	names := map[string]string{}
	for _, file := range files {
		sc, err := Load(file)
		var invalid *InvalidError
		switch {
		case errors.As(err, &invalid):
			all = append(all, invalid.Problems...)
		case err != nil:
			return nil, err
		}
		if sc == nil {
			continue
		}
		if previous, taken := names[sc.Metadata.Name]; taken && sc.Metadata.Name != "" {
			all = append(all, Problem{File: file, Line: sc.Line("metadata.name"),
				Message: fmt.Sprintf("scenario name %q is also used by %s: names must be unique (reports are named after them)", sc.Metadata.Name, previous)})
		} else {
			names[sc.Metadata.Name] = file
		}
		if err == nil {
			scenarios = append(scenarios, sc)
		}
	}
	if len(all) > 0 {
		return nil, &InvalidError{Problems: all}
	}
	return scenarios, nil
}

// ExpandPaths turns files and directories into the scenario files to load.
// A file named is loaded whatever it holds. A directory is searched
// recursively (hidden directories and symbolic links to directories are
// not followed) for YAML files whose kind is Scenario, so manifests and
// other YAML can sit next to scenarios; a YAML file directly in a
// directory named that does not parse is loaded too, so its syntax error
// is reported rather than the file skipped.
func ExpandPaths(paths []string) ([]string, error) {
	var files []string
	var ps problems
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil {
			ps.add(path, 0, "no such file or directory: give a scenario file or a directory of them")
			continue
		}
		if !info.IsDir() {
			files = append(files, path)
			continue
		}
		found := 0
		err = filepath.WalkDir(path, func(file string, entry fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if entry.IsDir() {
				if file != path && strings.HasPrefix(entry.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if ext := filepath.Ext(file); ext != ".yaml" && ext != ".yml" {
				return nil
			}
			if isScenario(file, filepath.Dir(file) == filepath.Clean(path)) {
				files = append(files, file)
				found++
			}
			return nil
		})
		if err != nil {
			ps.add(path, 0, "cannot read directory: %v", err)
			continue
		}
		if found == 0 {
			ps.add(path, 0, "directory holds no scenario files (YAML files of kind %s, searched recursively)", Kind)
		}
	}
	return files, ps.err()
}

// isScenario says whether a YAML file found in a directory is a scenario:
// its kind is Scenario, or its apiVersion canarylab's. One that cannot be
// read or parsed counts when unreadable counts (the top directory given),
// so that Load reports why.
func isScenario(file string, unreadable bool) bool {
	data, err := ReadFile(file)
	if err != nil {
		return unreadable
	}
	var head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return unreadable
	}
	// canarylab's own apiVersion with another kind is a scenario with a
	// mistake, which Load reports.
	return head.Kind == Kind || strings.HasPrefix(head.APIVersion, "canarylab.dev/")
}

// Problems collects the problems a controller model finds in manifests.
type Problems []Problem

// Add records a problem at file:line.
func (ps *Problems) Add(file string, line int, format string, args ...any) {
	*ps = append(*ps, Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

// AddAt records a problem at a "file:line" position.
func (ps *Problems) AddAt(where string, format string, args ...any) {
	file, line := SplitPosition(where)
	ps.Add(file, line, format, args...)
}

// Err is nil without problems, else an *InvalidError listing them.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return &InvalidError{Problems: ps}
}

// SplitPosition is the inverse of Position.
func SplitPosition(where string) (string, int) {
	cut := strings.LastIndex(where, ":")
	if cut < 0 {
		return where, 0
	}
	line, err := strconv.Atoi(where[cut+1:])
	if err != nil {
		return where, 0
	}
	return where[:cut], line
}

// Lookup walks a YAML mapping by keys; nil when a key is missing.
func Lookup(node *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if node == nil || node.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == key {
				next = node.Content[i+1]
			}
		}
		node = next
	}
	return node
}
