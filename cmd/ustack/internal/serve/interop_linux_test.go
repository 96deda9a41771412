package serve_test

// Interoperability tests (DESIGN.md, testing layer 4): ustack serves on a
// TAP device whose other side is in a network namespace of the test, where
// the Linux kernel's stack and real tools (ping, socat, nc, ip, tshark) talk
// to it. They need root; under USTACK_REQUIRE_ROOT_TESTS=1 they fail rather
// than skip when something is missing.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ustack-go/ustack/cmd/ustack/internal/serve"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/internal/netns"
	"github.com/ustack-go/ustack/tcpip"
)

// readyTimeout bounds the wait for "ready".
const readyTimeout = 30 * time.Second

// subnets numbers the 10.80.N.0/24 subnets of the tests, for readable logs
// (each test has a namespace of its own, so they could all use one).
var subnets atomic.Uint32

// instance is ustack serving in the test's process, on a TAP device whose
// kernel side is in a namespace of the test.
type instance struct {
	t      *testing.T
	ns     *netns.NS
	ifname string
	kernel netip.Prefix // the kernel's address, 10.80.N.1/24
	addr   netip.Addr   // ustack's address, 10.80.N.2

	cancel   context.CancelFunc
	done     chan error // Run's result
	out      *output    // Run's standard output
	stopOnce sync.Once
	counters map[string]uint64
}

// output is a standard output shared with Run, which says when it has
// written its "ready" line.
type output struct {
	mu    sync.Mutex
	b     strings.Builder
	ready chan struct{}
	seen  bool
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.Write(p)
	if !o.seen && strings.HasPrefix(o.b.String(), "ready\n") {
		o.seen = true
		close(o.ready)
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// start checks the goroutines, requires root and tools, creates a
// namespace and a persistent TAP device, runs ustack on it at 10.80.N.2/24
// with the configuration that configure adjusts, moves the device into the
// namespace and gives the kernel's side 10.80.N.1/24.
func start(t *testing.T, tools []string, configure func(*serve.Config)) *instance {
	t.Helper()
	leakcheck.Check(t)
	netns.RequireRoot(t)
	netns.RequireTools(t, tools...)
	ns := netns.New(t)
	n := subnets.Add(1) % 256
	u := &instance{
		t:      t,
		ns:     ns,
		ifname: netns.UniqueIfName("ustk"),
		kernel: netip.MustParsePrefix(fmt.Sprintf("10.80.%d.1/24", n)),
		addr:   netip.MustParseAddr(fmt.Sprintf("10.80.%d.2", n)),
		out:    &output{ready: make(chan struct{})},
		done:   make(chan error, 1),
	}

	// A persistent device, which ustack attaches to: the test made it,
	// the test deletes it (from the namespace once it is there).
	hostIP(t, "tuntap", "add", "dev", u.ifname, "mode", "tap")
	t.Cleanup(func() {
		out, err := exec.Command("ip", "link", "del", "dev", u.ifname).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "Cannot find device") {
			t.Errorf("deleting %s: %v: %s", u.ifname, err, out)
		}
	})

	cfg := serve.Config{TAP: u.ifname, Addrs: []netip.Prefix{netip.PrefixFrom(u.addr, 24)}}
	if configure != nil {
		configure(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel = cancel
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	go func() { u.done <- serve.Run(ctx, cfg, u.out, logger) }()
	t.Cleanup(func() { u.stop() })
	select {
	case <-u.out.ready:
	case err := <-u.done:
		u.done <- err
		t.Fatalf("serve.Run: %v", err)
	case <-time.After(readyTimeout):
		t.Fatalf("ustack not ready after %v", readyTimeout)
	}

	ns.MoveLink(t, u.ifname)
	ns.AddrAdd(t, u.ifname, u.kernel)
	ns.LinkUp(t, u.ifname)
	return u
}

// hostIP runs the ip command in the test's own namespace.
func hostIP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// stop stops ustack, checks that Run succeeded and printed "ready" and its
// counters, and returns the counters. Later calls return the same.
func (u *instance) stop() map[string]uint64 {
	u.t.Helper()
	u.stopOnce.Do(func() {
		u.cancel()
		select {
		case err := <-u.done:
			if err != nil {
				u.t.Errorf("serve.Run: %v", err)
			}
		case <-time.After(readyTimeout):
			u.t.Errorf("serve.Run still running %v after its context was canceled", readyTimeout)
			return
		}
		u.counters = parseCounters(u.t, u.out.String())
	})
	return u.counters
}

// parseCounters reads the output of Run or of the binary: "ready", then one
// "name value" a line.
func parseCounters(t *testing.T, out string) map[string]uint64 {
	t.Helper()
	rest, ok := strings.CutPrefix(out, "ready\n")
	if !ok {
		t.Errorf("output does not start with a ready line:\n%s", out)
		return nil
	}
	counters := map[string]uint64{}
	for line := range strings.Lines(rest) {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Errorf("bad counter line %q", line)
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil || v == 0 {
			t.Errorf("bad counter line %q: want a non-zero value", line)
		}
		counters[f[0]] = v
	}
	return counters
}

// run runs a tool in the namespace with stdin as its input and returns
// its standard output and error.
func (u *instance) run(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := u.ns.Command(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// broadcast returns the directed broadcast address of ustack's subnet.
func (u *instance) broadcast() netip.Addr {
	b := u.kernel.Masked().Addr().As4()
	b[3] = 255
	return netip.AddrFrom4(b)
}

// received returns the "N received" of ping's summary.
func received(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`(\d+) received`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no ping summary in:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func atLeast(t *testing.T, counters map[string]uint64, name string, min uint64) {
	t.Helper()
	if counters[name] < min {
		t.Errorf("counter %s = %d, want at least %d", name, counters[name], min)
	}
}

func TestInteropPing(t *testing.T) {
	t.Parallel()
	u := start(t, []string{"ping"}, nil)
	out := u.ns.Run(t, "ping", "-c", "3", "-w", "10", u.addr.String())
	if n := received(t, out); n != 3 {
		t.Errorf("ping: %d replies of 3:\n%s", n, out)
	}
	if !strings.Contains(out, "64 bytes from "+u.addr.String()) {
		t.Errorf("ping output lacks 64-byte replies from %v:\n%s", u.addr, out)
	}
	c := u.stop()
	atLeast(t, c, "ICMPv4.Received.EchoRequest", 3)
	atLeast(t, c, "ICMPv4.Sent.EchoReply", 3)
	atLeast(t, c, "ARP.RepliesSent", 1)
}

func TestInteropPingFragmented(t *testing.T) {
	t.Parallel()
	u := start(t, []string{"ping"}, nil)
	// 3000 data bytes over a 1500-byte MTU: the kernel fragments the
	// request, ustack reassembles it (RFC 791 §3.2), and ustack fragments
	// the reply, which the kernel reassembles.
	out := u.ns.Run(t, "ping", "-c", "2", "-w", "10", "-s", "3000", u.addr.String())
	if n := received(t, out); n != 2 {
		t.Errorf("ping -s 3000: %d replies of 2:\n%s", n, out)
	}
	if !strings.Contains(out, "3008 bytes from "+u.addr.String()) {
		t.Errorf("ping output lacks 3008-byte replies:\n%s", out)
	}
	c := u.stop()
	atLeast(t, c, "IPv4.FragmentsReceived", 6)
	atLeast(t, c, "IPv4.PacketsReassembled", 2)
	atLeast(t, c, "IPv4.FragmentsCreated", 6)
}

func TestInteropPingBroadcast(t *testing.T) {
	t.Parallel()
	u := start(t, []string{"ping", "sysctl"}, func(cfg *serve.Config) { cfg.EchoBroadcast = true })
	// The kernel must not answer its own broadcast: only ustack does.
	u.ns.Run(t, "sysctl", "-q", "-w", "net.ipv4.icmp_echo_ignore_broadcasts=1")
	out := u.ns.Run(t, "ping", "-b", "-c", "3", "-w", "10", u.broadcast().String())
	if n := received(t, out); n != 3 {
		t.Errorf("ping -b: %d replies of 3:\n%s", n, out)
	}
	if !strings.Contains(out, "from "+u.addr.String()+":") {
		t.Errorf("no reply from ustack at %v:\n%s", u.addr, out)
	}
	c := u.stop()
	atLeast(t, c, "ICMPv4.Sent.EchoReply", 3)
}

func TestInteropPingBroadcastIgnored(t *testing.T) {
	t.Parallel()
	// Without --echo-broadcast, ustack ignores echo requests to a
	// broadcast address, as Linux does by default.
	u := start(t, []string{"ping", "sysctl"}, nil)
	u.ns.Run(t, "sysctl", "-q", "-w", "net.ipv4.icmp_echo_ignore_broadcasts=1")
	out, _, err := u.run("", "ping", "-b", "-c", "2", "-W", "1", u.broadcast().String())
	if err == nil || received(t, out) != 0 {
		t.Errorf("ping -b got replies (%v):\n%s", err, out)
	}
	c := u.stop()
	atLeast(t, c, "ICMPv4.Received.EchoRequest", 2)
	if n := c["ICMPv4.Sent.EchoReply"]; n != 0 {
		t.Errorf("ustack sent %d echo replies to broadcast requests", n)
	}
}

func TestInteropUDPEcho(t *testing.T) {
	t.Parallel()
	u := start(t, []string{"socat", "nc"}, nil)
	peer := "UDP:" + u.addr.String() + ":7"
	t.Run("socat", func(t *testing.T) {
		out, stderr, err := u.run("hello, ustack\n", "socat", "-t", "2", "-", peer)
		if err != nil || out != "hello, ustack\n" {
			t.Errorf("socat = %q, %v (%s); want the line back", out, err, stderr)
		}
	})
	t.Run("nc", func(t *testing.T) {
		out, stderr, err := u.run("echo via nc\n", "nc", "-u", "-w", "2", u.addr.String(), "7")
		if err != nil || out != "echo via nc\n" {
			t.Errorf("nc -u = %q, %v (%s); want the line back", out, err, stderr)
		}
	})
	t.Run("fragmented", func(t *testing.T) {
		// One 4000-byte datagram: fragmented both ways.
		msg := strings.Repeat("0123456789", 400)
		out, stderr, err := u.run(msg, "socat", "-t", "2", "-b", "8192", "-", peer)
		if err != nil || out != msg {
			t.Errorf("socat 4000 bytes = %d bytes, %v (%s); want them back", len(out), err, stderr)
		}
	})
	c := u.stop()
	atLeast(t, c, "Serve.EchoDatagrams", 3)
	atLeast(t, c, "Serve.EchoBytes", 4000+14+12)
	atLeast(t, c, "IPv4.PacketsReassembled", 1)
}

func TestInteropUDPDiscard(t *testing.T) {
	t.Parallel()
	u := start(t, []string{"socat"}, nil)
	out, stderr, err := u.run("into the void\n", "socat", "-t", "1", "-", "UDP:"+u.addr.String()+":9")
	if err != nil || out != "" {
		t.Errorf("socat to discard = %q, %v (%s); want no answer and no error", out, err, stderr)
	}
	c := u.stop()
	if c["Serve.DiscardDatagrams"] != 1 || c["Serve.DiscardBytes"] != 14 {
		t.Errorf("discard counted %d datagrams, %d bytes; want 1, 14", c["Serve.DiscardDatagrams"], c["Serve.DiscardBytes"])
	}
	if n := c["ICMPv4.Sent.DstUnreachable"]; n != 0 {
		t.Errorf("ustack sent %d ICMP destination unreachable", n)
	}
}

func TestInteropUDPPortUnreachable(t *testing.T) {
	t.Parallel()
	u := start(t, []string{"socat"}, nil)
	// Nothing listens on port 4242: ustack answers with ICMP port
	// unreachable (RFC 1122 §4.1.3.1), which the kernel reports to
	// socat's connected socket as ECONNREFUSED.
	_, stderr, err := u.run("anyone?\n", "socat", "-t", "2", "-", "UDP:"+u.addr.String()+":4242")
	if err == nil || !strings.Contains(stderr, "Connection refused") {
		t.Errorf("socat to a closed port: %v, stderr %q; want Connection refused", err, stderr)
	}
	c := u.stop()
	atLeast(t, c, "UDP.UnknownPort", 1)
	atLeast(t, c, "ICMPv4.Sent.DstUnreachable", 1)
}

func TestInteropNeighbor(t *testing.T) {
	t.Parallel()
	mac := tcpip.MustParseLinkAddress("02:75:73:74:6b:01")
	u := start(t, []string{"ping"}, func(cfg *serve.Config) { cfg.MAC = mac })
	u.ns.Run(t, "ping", "-c", "1", "-w", "10", u.addr.String())
	out := u.ns.Run(t, "ip", "neigh", "show", "dev", u.ifname)
	re := regexp.MustCompile(regexp.QuoteMeta(u.addr.String()) + ` lladdr ` + mac.String() + ` (REACHABLE|STALE|DELAY)`)
	if !re.MatchString(out) {
		t.Errorf("ip neigh does not show ustack at %v, %v:\n%s", u.addr, mac, out)
	}
	c := u.stop()
	atLeast(t, c, "ARP.RequestsReceived", 1)
	atLeast(t, c, "ARP.RepliesSent", 1)
}

func TestInteropPcap(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "capture.pcap")
	u := start(t, []string{"ping", "socat", "tshark"}, func(cfg *serve.Config) { cfg.PCAP = file })
	u.ns.Run(t, "ping", "-c", "2", "-w", "10", u.addr.String())
	u.ns.Run(t, "ping", "-c", "1", "-w", "10", "-s", "2000", u.addr.String())
	if out, stderr, err := u.run("captured\n", "socat", "-t", "2", "-", "UDP:"+u.addr.String()+":7"); err != nil || out != "captured\n" {
		t.Fatalf("socat = %q, %v (%s)", out, err, stderr)
	}
	u.stop()

	tshark := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("tshark", append([]string{"-r", file}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	// Every checksum checked; two passes, so that requests see their
	// replies.
	checks := []string{"-2", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"}
	summary := tshark(checks...)
	for _, want := range []string{
		"ARP", "is at", // ustack's ARP reply
		"Echo (ping) request", "Echo (ping) reply",
		"Fragmented IP protocol",
		"ECHO",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("capture lacks %q:\n%s", want, summary)
		}
	}
	if strings.Contains(summary, "Malformed") {
		t.Errorf("capture has malformed packets:\n%s", summary)
	}
	expert := tshark(append(checks, "-q", "-z", "expert")...)
	if strings.Contains(expert, "Errors (") || strings.Contains(expert, "Warns (") {
		t.Errorf("tshark reports errors or warnings:\n%s\ncapture:\n%s", expert, summary)
	}
}

func TestInteropLoss(t *testing.T) {
	t.Parallel()
	u := start(t, []string{"ping"}, func(cfg *serve.Config) {
		cfg.Loss = 0.3
		cfg.Seed = 1
	})
	// ARP crosses the lossy link too. The kernel retries a failed
	// resolution as soon as it has a new packet to send, and ustack
	// learns the kernel's link address from every ARP request that gets
	// through (RFC 826), so that the two resolve each other within a
	// few pings.
	const count = 100
	out, _, err := u.run("", "ping", "-c", strconv.Itoa(count), "-i", "0.05", "-W", "1", u.addr.String())
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("ping: %v", err)
	}
	// Each exchange survives with probability 0.7² ≈ 0.49: all of them
	// failing or all succeeding is (practically) impossible.
	c := u.stop()
	if n := received(t, out); n == 0 || n == count {
		t.Errorf("ping through 30%% loss each way: %d of %d replies:\n%s\nustack's counters: %v", n, count, out, c)
	}
}

// TestInteropCreatesDevice lets ustack create the device itself (no
// device of that name exists), and checks that it disappears with ustack.
func TestInteropCreatesDevice(t *testing.T) {
	t.Parallel()
	leakcheck.Check(t)
	netns.RequireRoot(t)
	name := netns.UniqueIfName("ustk")
	ctx, cancel := context.WithCancel(context.Background())
	out := &output{ready: make(chan struct{})}
	done := make(chan error, 1)
	cfg := serve.Config{TAP: name, Addrs: []netip.Prefix{netip.MustParsePrefix("10.81.0.2/24")}, MTU: 1400}
	go func() {
		done <- serve.Run(ctx, cfg, out, nil)
		close(done)
	}()
	t.Cleanup(func() {
		// Stop ustack if the test failed before it did.
		cancel()
		<-done
	})
	select {
	case <-out.ready:
	case err := <-done:
		t.Fatalf("serve.Run: %v", err)
	case <-time.After(readyTimeout):
		t.Fatal("not ready")
	}
	link, err := exec.Command("ip", "-o", "link", "show", "dev", name).CombinedOutput()
	if err != nil || !strings.Contains(string(link), "mtu 1400") {
		t.Errorf("ip link show dev %s: %v: %s; want the device with MTU 1400", name, err, link)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve.Run: %v", err)
	}
	if link, err := exec.Command("ip", "link", "show", "dev", name).CombinedOutput(); err == nil {
		t.Errorf("device %s still exists after ustack stopped: %s", name, link)
	}
}
