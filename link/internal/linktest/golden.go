package linktest

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Golden returns the frame of header/testdata/golden/name.hex (real Linux
// frames, see that directory), found from the module root above the
// working directory.
func Golden(t testing.TB, name string) []byte {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("golden %s: no go.mod above the working directory", name)
		}
		dir = parent
	}
	raw, err := os.ReadFile(filepath.Join(dir, "header", "testdata", "golden", name+".hex"))
	if err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	var digits strings.Builder
	for line := range strings.SplitSeq(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	return b
}
