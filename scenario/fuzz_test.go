package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: whatever the bytes, Parse returns a scenario or an
// *InvalidError whose problems all have a message and a sane line; it never
// panics.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("spec: {events: [{at: 1s}]}"))
	f.Add([]byte("- - - ["))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("testdata/fuzz.yaml", data)
		if err == nil {
			if sc == nil {
				t.Fatal("no scenario and no error")
			}
			return
		}
		var invalid *InvalidError
		if !errors.As(err, &invalid) {
			t.Fatalf("error of type %T: %v", err, err)
		}
		if len(invalid.Problems) == 0 {
			t.Fatal("an InvalidError without problems")
		}
		for _, problem := range invalid.Problems {
			if problem.Message == "" || problem.Line < 0 {
				t.Fatalf("bad problem %+v", problem)
			}
		}
	})
}
