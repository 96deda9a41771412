package serve_test

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// One dual-stack listener per TCP service serves both families: the
// kernel's curl fetches the same resource over IPv4 and over IPv6, and
// ustack counts the connections of each family.
func TestInteropTCPDualStack(t *testing.T) {
	t.Parallel()
	requireTCP(t)
	u := start6(t, []string{"curl"})
	const size = 1 << 20
	want := sha256.Sum256(chargen(size))
	for _, tc := range []struct {
		flag string
		host netip.Addr
		url  string
	}{
		{"-4", u.addr, fmt.Sprintf("http://%s/bytes/%d", u.addr, size)},
		{"-6", u.addr6, fmt.Sprintf("http://[%s]/bytes/%d", u.addr6, size)},
	} {
		out, stderr, code := u.runTimed(time.Minute, nil, "curl", tc.flag, "-sS", "--fail", tc.url)
		if code != 0 || len(out) != size {
			t.Fatalf("curl %s %s: exit %d, %d bytes, %s", tc.flag, tc.url, code, len(out), stderr)
		}
		if got := sha256.Sum256(out); got != want {
			t.Errorf("curl %s: SHA-256 %x, want %x (chargen)", tc.flag, got, want)
		}
	}
	c := u.stop()
	atLeast(t, c, "Serve.HTTPBytesSent", 2*size)
	atLeast(t, c, "IPv4.PacketsDelivered", 1)
	atLeast(t, c, "IPv6.PacketsDelivered", 1)
}
