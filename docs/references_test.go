package docs

import (
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// reference is a Markdown file a text refers to, with an optional heading.
var reference = regexp.MustCompile(`[a-zA-Z0-9_./-]+\.md(#[a-z0-9-]+)?`)

// notDocuments look like references but name files canarylab writes, or
// that each lab holds, not documents of the repository.
var notDocuments = map[string]string{
	"summary.md":           "the run's Markdown summary in a --report-dir",
	"conformance.md":       "the table canarylab conformance --report-dir writes",
	"solution/SOLUTION.md": "each lab's own, labs/<lab>/solution/SOLUTION.md",
}

// checkedExtensions are the files whose references are checked.
var checkedExtensions = []string{".go", ".md", ".yaml", ".yml", ".html"}

// skippedDirs are git's directory and the build outputs .gitignore lists,
// relative to the repository root.
var skippedDirs = []string{".git", "out", "report", "reports-out", "dist", "bin", ".cache", ".task"}

// found is one reference at a place in a file.
type found struct {
	line   int
	file   string // the referenced file, as written
	anchor string // the heading slug after '#', or ""
}

// Every Markdown file and heading the repository refers to, in comments,
// messages and documents, is in the repository.
func TestReferencesResolve(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the repository root %s has no go.mod: %v", root, err)
	}
	slugsOf := map[string][]string{}
	checked := 0
	err = filepath.WalkDir(root, func(file string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, file)
		if entry.IsDir() {
			if slices.Contains(skippedDirs, rel) || entry.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if !entry.Type().IsRegular() || !slices.Contains(checkedExtensions, filepath.Ext(file)) {
			return nil
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		for _, ref := range referencesIn(rel, data) {
			checked++
			where := filepath.ToSlash(rel) + ":" + strconv.Itoa(ref.line)
			target, ok := resolve(root, filepath.Dir(file), ref.file)
			if !ok {
				t.Errorf("%s: %s is not in the repository (resolved against the root and against %s)", where, ref.file, filepath.ToSlash(filepath.Dir(rel)))
				continue
			}
			if ref.anchor == "" {
				continue
			}
			slugs, seen := slugsOf[target]
			if !seen {
				text, err := os.ReadFile(target)
				if err != nil {
					return err
				}
				slugs = headingSlugs(string(text))
				slugsOf[target] = slugs
			}
			if !slices.Contains(slugs, ref.anchor) {
				targetRel, _ := filepath.Rel(root, target)
				t.Errorf("%s: %s#%s: %s has no heading with that slug (it has: %s)", where, ref.file, ref.anchor,
					filepath.ToSlash(targetRel), strings.Join(slugs, ", "))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Errorf("only %d references found: the walk of %s missed the repository", checked, root)
	}
}

// referencesIn finds the references of one file. In Go it reads comments,
// and string literals outside tests (messages users see; a test's strings
// are its data: the names of files it writes and reads).
func referencesIn(name string, data []byte) []found {
	if filepath.Ext(name) != ".go" {
		return match(string(data), 1)
	}
	var refs []found
	fset := token.NewFileSet()
	file := fset.AddFile(name, -1, len(data))
	var s scanner.Scanner
	s.Init(file, data, nil, scanner.ScanComments)
	isTest := strings.HasSuffix(name, "_test.go")
	for {
		pos, tok, literal := s.Scan()
		if tok == token.EOF {
			return refs
		}
		if tok == token.COMMENT || (tok == token.STRING && !isTest) {
			refs = append(refs, match(literal, fset.Position(pos).Line)...)
		}
	}
}

// match finds the references in text whose first line is line.
func match(text string, line int) []found {
	var refs []found
	for _, loc := range reference.FindAllStringSubmatchIndex(text, -1) {
		start, end := loc[0], loc[1]
		rest := text[end:]
		if rest != "" && (isWordByte(rest[0]) || len(rest) > 1 && rest[0] == '.' && isWordByte(rest[1])) {
			continue // a longer name: x.md.golden, x.mdx
		}
		if start > 0 && text[start-1] == '%' {
			continue // a format: "%s.md"
		}
		if start > 0 && text[start-1] == ':' && strings.HasPrefix(text[start:], "//") {
			continue // a URL
		}
		ref := found{line: line + strings.Count(text[:start], "\n"), file: text[start:end]}
		if loc[2] >= 0 {
			ref.file, ref.anchor = text[start:loc[2]], text[loc[2]+1:loc[3]]
		}
		if _, ok := notDocuments[ref.file]; ok {
			continue
		}
		if _, ok := notDocuments[path.Base(ref.file)]; ok {
			continue
		}
		refs = append(refs, ref)
	}
	return refs
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// resolve finds a referenced file relative to the repository root or to the
// referring file's directory, inside the repository.
func resolve(root, dir, ref string) (string, bool) {
	for _, base := range []string{root, dir} {
		candidate := filepath.Join(base, filepath.FromSlash(ref))
		rel, err := filepath.Rel(root, candidate)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		if info, err := os.Stat(candidate); err == nil && info.Mode().IsRegular() {
			return candidate, true
		}
	}
	return "", false
}

var (
	atxHeading   = regexp.MustCompile(`^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)
	fence        = regexp.MustCompile("^ {0,3}(```|~~~)")
	markdownLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// headingSlugs are the anchors GitHub gives a document's headings, in
// order; a repeated slug gets -1, -2, ...
func headingSlugs(markdown string) []string {
	var slugs []string
	count := map[string]int{}
	inFence := false
	for _, line := range strings.Split(markdown, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		heading := atxHeading.FindStringSubmatch(line)
		if heading == nil {
			continue
		}
		slug := slugOf(heading[1])
		if n := count[slug]; n > 0 {
			count[slug]++
			slug += "-" + strconv.Itoa(n)
		} else {
			count[slug] = 1
		}
		slugs = append(slugs, slug)
	}
	return slugs
}

// slugOf is GitHub's anchor for a heading: the text in lower case, without
// punctuation other than '-' and '_', spaces made '-'.
func slugOf(heading string) string {
	heading = markdownLink.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSlugOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ heading, want string }{
		{"Outcomes", "outcomes"},
		{"CLI and exit codes", "cli-and-exit-codes"},
		{"Flagger on Linkerd (SMI)", "flagger-on-linkerd-smi"},
		{"The `promql.Engine` cost", "the-promqlengine-cost"},
		{"hey and wrk load", "hey-and-wrk-load"},
		{"Okabe–Ito colours, 100 %", "okabeito-colours-100-"},
		{"[Running on kind](#running-on-kind)", "running-on-kind"},
		{"snake_case stays", "snake_case-stays"},
	} {
		if got := slugOf(tc.heading); got != tc.want {
			t.Errorf("slugOf(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
}

func TestHeadingSlugs(t *testing.T) {
	t.Parallel()
	markdown := "# Title\n\n## Notes\ntext\n```sh\n# not a heading\n```\n## Notes\n### Closed ###\n#nospace\n"
	want := []string{"title", "notes", "notes-1", "closed"}
	if got := headingSlugs(markdown); !slices.Equal(got, want) {
		t.Errorf("headingSlugs = %q, want %q", got, want)
	}
}

func TestReferencesIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, text string
		want             []found
	}{
		{"markdown with anchor", "a.md", "see [x](docs/measurements.md#promql-engine-cost).",
			[]found{{line: 1, file: "docs/measurements.md", anchor: "promql-engine-cost"}}},
		{"line numbers", "a.md", "one\ntwo README.md\n", []found{{line: 2, file: "README.md"}}},
		{"longer names and formats", "a.md", "x.md.golden, y.mdx, %s.md, https://example.com/z.md", nil},
		{"report outputs", "a.md", "DIR/conformance.md and summary.md", nil},
		{"go comment and message", "x.go", "package x\n\n// see docs/architecture.md#outcomes\nvar m = \"in NOTES.md\"\n",
			[]found{{line: 3, file: "docs/architecture.md", anchor: "outcomes"}, {line: 4, file: "NOTES.md"}}},
		{"go test strings are data", "x_test.go", "package x\n\nvar files = []string{\"passes.md\"} // README.md\n",
			[]found{{line: 3, file: "README.md"}}},
	} {
		if got := referencesIn(tc.file, []byte(tc.text)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: referencesIn = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
