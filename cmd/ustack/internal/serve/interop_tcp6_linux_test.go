package serve_test

// TCP over IPv6 interoperability tests: with an IPv6 address, ustack's TCP
// services listen on one dual-stack endpoint, which the kernel reaches
// with curl -6, socat over TCP6, and over IPv4 as before (see
// interop_ipv6_linux_test.go for start6).

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// url6 returns http://[addr]/path.
func (u *instance6) url6(path string) string { return "http://[" + u.addr6.String() + "]" + path }

func TestInteropTCP6HTTPDownloadUpload(t *testing.T) {
	t.Parallel()
	requireTCP(t)
	u := start6(t, []string{"curl", "ip"})
	const size = 20 << 20
	// Download: GET /bytes/N over IPv6, checked by SHA-256.
	file := filepath.Join(t.TempDir(), "bytes")
	out, stderr, code := u.runTimed(2*time.Minute, nil, "curl", "-6", "-sS", "--fail", "-o", file, "-w", "%{http_code} %{size_download}", u.url6(fmt.Sprintf("/bytes/%d", size)))
	if code != 0 || string(out) != fmt.Sprintf("200 %d", size) {
		t.Fatalf("curl -6 GET: exit %d, %q, %s", code, out, stderr)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := sha256.Sum256(got), sha256.Sum256(chargen(size)); g != w {
		t.Errorf("SHA-256 of the %d bytes fetched = %x, want %x", len(got), g, w)
	}
	// Upload: POST /sha256 over IPv6.
	up, data := randomFile(t, size)
	sum := sha256.Sum256(data)
	out, stderr, code = u.runTimed(2*time.Minute, nil, "curl", "-6", "-sS", "--fail",
		"-H", "Content-Type: application/octet-stream", "--data-binary", "@"+up, u.url6("/sha256"))
	if code != 0 || strings.TrimSpace(string(out)) != hex.EncodeToString(sum[:]) {
		t.Fatalf("curl -6 POST /sha256: exit %d, %q (%s); want %x", code, out, stderr, sum)
	}
	// The same listener serves IPv4.
	out, stderr, code = u.runTimed(time.Minute, nil, "curl", "-4", "-sS", "--fail", "-w", "%{http_code}", "-o", "/dev/null", "http://"+u.addr.String()+"/bytes/1000")
	if code != 0 || string(out) != "200" {
		t.Errorf("curl -4 on the dual-stack listener: exit %d, %q (%s)", code, out, stderr)
	}
	// And the link-local address, with its zone.
	out, stderr, code = u.runTimed(time.Minute, nil, "curl", "-6", "-sS", "--fail", "-w", "%{http_code}", "-o", "/dev/null",
		"--interface", u.ifname, "http://["+u.linkLocal.String()+"%25"+u.ifname+"]/bytes/1000")
	if code != 0 || string(out) != "200" {
		t.Errorf("curl -6 to the link-local address: exit %d, %q (%s)", code, out, stderr)
	}
	c := u.stop()
	atLeast(t, c, "Serve.HTTPBytesSent", size)
	atLeast(t, c, "Serve.HTTPBytesReceived", size)
	atLeast(t, c, "Serve.HTTPRequests", 4)
}

func TestInteropTCP6Echo(t *testing.T) {
	t.Parallel()
	requireTCP(t)
	u := start6(t, []string{"socat", "ip"})
	data := make([]byte, 4<<20)
	rand.Read(data)
	out, stderr, code := u.runTimed(2*time.Minute, bytes.NewReader(data), "socat", "-t", "60", "-b", "65536", "-", "TCP6:["+u.addr6.String()+"]:7")
	if code != 0 || !bytes.Equal(out, data) {
		t.Errorf("socat TCP6 echo of %d bytes: exit %d, %d bytes back, equal %v (%s)", len(data), code, len(out), bytes.Equal(out, data), stderr)
	}
	c := u.stop()
	atLeast(t, c, "Serve.TCPEchoBytes", 4<<20)
}
