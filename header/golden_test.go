package header

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// golden returns the bytes of testdata/golden/name.hex. The file holds '#'
// comment lines (how the packet was made) and the packet as hex digits, with
// any white space between them. Packets are whole Ethernet II frames as
// captured on a veth or TAP interface, unless the comment says otherwise.
func golden(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden", name+".hex"))
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
