package platform

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	yamlv3 "gopkg.in/yaml.v3"
)

// ErrPinned: versions.yaml pins a digest other than the one found, and
// PinDigests was not told to overwrite it.
var ErrPinned = errors.New("a different digest is pinned")

// Pin is one digest PinDigests changes in versions.yaml.
type Pin struct {
	// Field is the entry (istio.charts[base].sha256, argoRollouts.sha256).
	Field string
	// From is what versions.yaml held, To what it holds now.
	From, To string
}

// Want is the digest `canarylab platform digests --write` pins for d: for
// an Istio chart, the one the chart repository's index lists, and only if
// the download has it too; for the Argo Rollouts manifest (read from the
// module cache, which the go command checks against go.sum's checksum
// database), its sha256.
func (d Digest) Want() (string, error) {
	if d.Chart == "" {
		if !hexDigest.MatchString(d.SHA256) {
			return "", fmt.Errorf("%s: %q is not a sha256", d.Field, d.SHA256)
		}
		return d.SHA256, nil
	}
	switch {
	case d.Index == "" && d.IndexError != "":
		return "", fmt.Errorf("%s: no digest from the chart repository's index to pin: %s", d.Field, d.IndexError)
	case d.Index == "":
		return "", fmt.Errorf("%s: the chart repository's index lists no digest to pin", d.Field)
	case !hexDigest.MatchString(d.Index):
		return "", fmt.Errorf("%s: the chart repository's index lists %q, not a sha256", d.Field, d.Index)
	case d.Index != d.SHA256:
		return "", fmt.Errorf("%s: %s downloaded with sha256 %s, but the chart repository's index lists %s: pinning neither", d.Field, d.Source, d.SHA256, d.Index)
	}
	return d.Index, nil
}

// PinDigests rewrites versions.yaml (data) to pin the digests found
// (Digest.Want), changing nothing but those values: the comments, the
// order and the rest of each line stay as they are. A digest versions.yaml
// pins already (not a placeholder, see Unpinned) that differs from the one
// found is refused (ErrPinned) unless force. Every problem is reported at
// once, and on any the file is not changed. It returns the new file and
// what changed in it (nothing when it pins these digests already).
func PinDigests(data []byte, digests []Digest, force bool) ([]byte, []Pin, error) {
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", VersionsFile, err)
	}
	if _, err := ParseVersions(data); err != nil {
		return nil, nil, err
	}
	lines := strings.SplitAfter(string(data), "\n")
	var (
		errs []error
		pins []Pin
	)
	for _, digest := range digests {
		want, err := digest.Want()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var node *yamlv3.Node
		if digest.Chart != "" {
			node = chartDigestNode(&doc, digest.Chart)
		} else if digest.Field == "argoRollouts.sha256" {
			node = lookup(&doc, "argoRollouts", "sha256")
		}
		if node == nil {
			errs = append(errs, fmt.Errorf("%s: %s has no such entry to write", digest.Field, VersionsFile))
			continue
		}
		held := node.Value
		if held == want {
			continue
		}
		if !Unpinned(held) && !force {
			errs = append(errs, fmt.Errorf("%w: %s pins %s, but %s was found (%s): not overwritten without --force",
				ErrPinned, digest.Field, held, want, digest.Source))
			continue
		}
		if err := replaceScalar(lines, node, want); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", digest.Field, err))
			continue
		}
		pins = append(pins, Pin{Field: digest.Field, From: held, To: want})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	out := []byte(strings.Join(lines, ""))
	// What was written is what versions.yaml now says.
	written, err := ParseVersions(out)
	if err != nil {
		return nil, nil, fmt.Errorf("the rewritten %s does not parse: %w", VersionsFile, err)
	}
	for _, pin := range pins {
		got := written.ArgoRollouts.SHA256
		if strings.HasPrefix(pin.Field, "istio.charts[") {
			name := strings.TrimSuffix(strings.TrimPrefix(pin.Field, "istio.charts["), "].sha256")
			chart, err := written.Istio.Chart(name)
			if err != nil {
				return nil, nil, err
			}
			got = chart.SHA256
		}
		if got != pin.To {
			return nil, nil, fmt.Errorf("the rewritten %s reads %s as %q, not %q", VersionsFile, pin.Field, got, pin.To)
		}
	}
	return out, pins, nil
}

// lookup follows mapping keys from a document node.
func lookup(node *yamlv3.Node, keys ...string) *yamlv3.Node {
	if node.Kind == yamlv3.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	for _, key := range keys {
		if node == nil || node.Kind != yamlv3.MappingNode {
			return nil
		}
		var next *yamlv3.Node
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == key {
				next = node.Content[i+1]
			}
		}
		node = next
	}
	return node
}

// chartDigestNode is the sha256 value of the istio.charts entry named
// name.
func chartDigestNode(doc *yamlv3.Node, name string) *yamlv3.Node {
	charts := lookup(doc, "istio", "charts")
	if charts == nil || charts.Kind != yamlv3.SequenceNode {
		return nil
	}
	for _, chart := range charts.Content {
		if n := lookup(chart, "name"); n != nil && n.Value == name {
			return lookup(chart, "sha256")
		}
	}
	return nil
}

// numberLike is a plain scalar YAML may read as a number.
var numberLike = regexp.MustCompile(`^[0-9eE.+_-]+$`)

// replaceScalar replaces a one-line scalar's text where the node says it
// is, keeping its quotes if it has any, and checks that what it replaces
// is that scalar.
func replaceScalar(lines []string, node *yamlv3.Node, value string) error {
	if node.Kind != yamlv3.ScalarNode || node.Line < 1 || node.Line > len(lines) || node.Column < 1 {
		return fmt.Errorf("not a scalar this can rewrite (line %d)", node.Line)
	}
	line := lines[node.Line-1]
	// The column counts characters; find its byte offset.
	start := 0
	for range node.Column - 1 {
		if start >= len(line) {
			return fmt.Errorf("line %d is shorter than its column %d", node.Line, node.Column)
		}
		_, size := utf8.DecodeRuneInString(line[start:])
		start += size
	}
	var token, replacement string
	switch node.Style {
	case yamlv3.DoubleQuotedStyle:
		token, replacement = `"`+node.Value+`"`, `"`+value+`"`
	case yamlv3.SingleQuotedStyle:
		token, replacement = "'"+node.Value+"'", "'"+value+"'"
	case 0:
		token, replacement = node.Value, value
		if numberLike.MatchString(value) {
			// A sha256 of only digits (and an e) would read as a number.
			replacement = `"` + value + `"`
		}
	default:
		return fmt.Errorf("line %d: write the digest as a plain or quoted scalar", node.Line)
	}
	if !strings.HasPrefix(line[start:], token) || strings.ContainsAny(node.Value, "\"'\\\n") {
		return fmt.Errorf("line %d, column %d does not read %s: not rewriting it", node.Line, node.Column, token)
	}
	lines[node.Line-1] = line[:start] + replacement + line[start+len(token):]
	return nil
}

// ReadVersionsFile reads and parses a versions.yaml on disk (in the
// repository, rather than the copy embedded in the binary).
func ReadVersionsFile(path string) (*Versions, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	versions, err := ParseVersions(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return versions, data, nil
}

// WriteVersionsFile replaces the file at path with data, atomically and
// keeping its permissions, unless it holds data already.
func WriteVersionsFile(path string, data []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	temp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.partial")
	if err != nil {
		return err
	}
	_, writeErr := temp.Write(data)
	if err := errors.Join(writeErr, temp.Chmod(info.Mode().Perm()), temp.Close()); err != nil {
		os.Remove(temp.Name())
		return err
	}
	if err := os.Rename(temp.Name(), path); err != nil {
		os.Remove(temp.Name())
		return err
	}
	return nil
}
