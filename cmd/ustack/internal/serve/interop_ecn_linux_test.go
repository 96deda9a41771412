package serve_test

// ECN (RFC 3168) against the Linux kernel: negotiation in both
// directions, and transfers over connections that use it.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ustack-go/ustack/transport/tcp"
)

// The kernel asks for ECN (net.ipv4.tcp_ecn=1 in its namespace); ustack's
// listeners accept it by default (tcp.ECNPassive) and a 20 MiB download
// goes over the ECN connection, ustack's data marked ECT(0).
func TestInteropTCPECNPassive(t *testing.T) {
	t.Parallel()
	requireTCP(t)
	u := start(t, []string{"curl", "sh"}, nil)
	if _, stderr, err := u.run("", "sh", "-c", "echo 1 > /proc/sys/net/ipv4/tcp_ecn"); err != nil {
		t.Fatalf("setting tcp_ecn: %v: %s", err, stderr)
	}
	const size = 20 << 20
	file := filepath.Join(t.TempDir(), "bytes")
	url := fmt.Sprintf("http://%s/bytes/%d", u.addr, size)
	out, stderr, code := u.runTimed(2*time.Minute, nil, "curl", "-sS", "--fail", "-o", file, "-w", "%{http_code} %{size_download}", url)
	if code != 0 || string(out) != fmt.Sprintf("200 %d", size) {
		t.Fatalf("curl %s: exit %d, %q, %s", url, code, out, stderr)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := sha256.Sum256(got), sha256.Sum256(chargen(size)); g != w {
		t.Errorf("SHA-256 of the %d bytes fetched = %x, want %x", len(got), g, w)
	}
	c := u.stop()
	atLeast(t, c, "TCP.ECNNegotiated", 1)
}

// ustack asks for ECN (tcp.ECNOn) when it connects to the kernel, which
// accepts it by default (tcp_ecn=2): ss shows the connection with "ecn"
// and "ecnseen" (ustack's data arrived ECT(0)), and 16 MiB go over it.
func TestInteropTCPECNActive(t *testing.T) {
	t.Parallel()
	requireTCP(t)
	s := startServer(t, []string{"socat", "sh", "head", "sha256sum", "ss"})
	if err := s.Stack().SetTransportProtocolOption(tcp.ProtocolNumber, tcp.ECNOn); err != nil {
		t.Fatal(err)
	}
	const size = 16 << 20
	s.background(t, "socat", "-t", "30", "TCP-LISTEN:5001,reuseaddr", fmt.Sprintf("SYSTEM:head -c %d | sha256sum", size))
	c := s.dial(t, 5001)
	data := make([]byte, size)
	rand.Read(data)
	sum := sha256.Sum256(data)
	c.SetDeadline(time.Now().Add(time.Minute))
	const first = 1 << 20
	if n, err := c.Write(data[:first]); n != first || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	// "ecn": negotiated; "ecnseen": the kernel received ECT packets.
	out, err := s.ns.Command(t.Context(), "ss", "-tnie", "state", "established", "sport", "= :5001").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	if !strings.Contains(string(out), " ecn ") || !strings.Contains(string(out), " ecnseen") {
		t.Errorf("the kernel's connection does not show ecn and ecnseen:\n%s", out)
	}
	if n, err := c.Write(data[first:]); n != len(data)-first || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	got, err := io.ReadAll(c)
	if want := hex.EncodeToString(sum[:]) + "  -\n"; err != nil || string(got) != want {
		t.Fatalf("the kernel's answer = %q, %v; want %q", got, err, want)
	}
	if n := s.Stack().Stats().TCP.ECNNegotiated.Load(); n != 1 {
		t.Errorf("ECNNegotiated = %d", n)
	}
}
