package gomod

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A module in the cache is found there, its path escaped as the cache
// escapes it; one that is not, and cannot be downloaded, is an error that
// says what to run.
func TestDir(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("GOMODCACHE", cache)
	want := filepath.Join(cache, "github.com", "!example", "mod@v1.2.3")
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(want, "go.mod"), []byte("module github.com/Example/mod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, err := Dir(context.Background(), "false", "github.com/Example/mod", "v1.2.3")
	if err != nil || dir != want {
		t.Errorf("Dir = %q, %v; want %q", dir, err, want)
	}
	_, err = Dir(context.Background(), "false", "github.com/Example/missing", "v0.1.0")
	if err == nil || !strings.Contains(err.Error(), "run `go mod download github.com/Example/missing@v0.1.0`") {
		t.Errorf("a missing module: %v", err)
	}
}
