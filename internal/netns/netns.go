// Package netns is the harness of ustack's interoperability tests
// (DESIGN.md, testing layer 4): it gives a test a Linux network namespace of
// its own, in which the kernel's stack and real tools (ping, socat, curl,
// tcpdump) talk to ustack through a TAP device or a veth pair, and removes
// everything it made when the test ends.
//
// These tests need root, /dev/net/tun and iproute2. Without them they skip,
// unless the environment sets USTACK_REQUIRE_ROOT_TESTS=1 (CI does), in which
// case they fail with the reason: a CI run must not pass by skipping.
//
// A typical test:
//
//	func TestPing(t *testing.T) {
//		leakcheck.Check(t)
//		netns.RequireTools(t, "ping")
//		ns := netns.New(t)
//		name := netns.UniqueIfName("ustk")
//		dev, err := tun.Open(tun.Config{Name: name, Mode: tun.TAP})
//		...
//		t.Cleanup(func() { dev.Close() })
//		ns.MoveLink(t, name)
//		ns.AddrAdd(t, name, netip.MustParsePrefix("10.77.0.1/24"))
//		ns.LinkUp(t, name)
//		ns.Run(t, "ping", "-c", "1", "-W", "5", "10.77.0.2")
//	}
//
// Names are unique per process and per call (namespaces "ustk-PID-N",
// interfaces from UniqueIfName), so test binaries of different packages can
// run at the same time, as `go test ./...` runs them.
//
// The helpers run the ip command and wait for it with a timeout of a minute,
// which also bounds Run and Output; long-running tools go through Command
// under the caller's context.
package netns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
)

// EnvRequire is the environment variable that turns the skips of
// RequireRoot, RequireTools and New into failures when it is "1".
const EnvRequire = "USTACK_REQUIRE_ROOT_TESTS"

// commandTimeout bounds every command the helpers wait for.
const commandTimeout = time.Minute

// RequireRoot skips t (or fails it, under USTACK_REQUIRE_ROOT_TESTS=1)
// unless the process runs as root with /dev/net/tun and the ip command
// (iproute2) available.
func RequireRoot(t testing.TB) {
	t.Helper()
	var missing []string
	if euid := os.Geteuid(); euid != 0 {
		missing = append(missing, "not running as root (euid "+strconv.Itoa(euid)+")")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		missing = append(missing, "no /dev/net/tun ("+err.Error()+")")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "no ip command (iproute2)")
	}
	if len(missing) > 0 {
		unavailable(t, strings.Join(missing, "; "))
	}
}

// RequireTools skips t (or fails it, under USTACK_REQUIRE_ROOT_TESTS=1)
// unless every named program is in $PATH.
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		unavailable(t, "missing tools: "+strings.Join(missing, ", "))
	}
}

// unavailable skips t with reason, or fails it when EnvRequire is "1".
func unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s=1 but the test cannot run: %s", EnvRequire, reason)
		return
	}
	t.Skipf("%s (set %s=1 to make this a failure)", reason, EnvRequire)
}

// NS is a network namespace created for one test. Its methods are safe for
// concurrent use.
type NS struct {
	name string

	mu      sync.Mutex
	moved   []string // links MoveLink moved in, deleted with the namespace
	deleted bool     // Delete has run
}

var nsCounter atomic.Uint64

// New calls RequireRoot (and skips or fails the same way if the kernel
// refuses to create a namespace), creates a network namespace with a name
// unique to the process ("ustk-PID-N"), brings its loopback interface up, and
// registers a cleanup that deletes the links moved into it and then the
// namespace. Virtual links created inside the namespace (by commands run
// there) go with it; the kernel destroys them asynchronously once the last
// process has left.
func New(t testing.TB) *NS {
	t.Helper()
	RequireRoot(t)
	var ns *NS
	for range 10 {
		name := "ustk-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(nsCounter.Add(1), 10)
		out, err := ipCommand("netns", "add", name)
		if err == nil {
			ns = &NS{name: name}
			break
		}
		switch {
		case strings.Contains(out, "exists"):
			// A namespace left by a killed process with the same
			// pid: take the next number.
			continue
		case strings.Contains(out, "not permitted") || strings.Contains(out, "denied"):
			// Root without CAP_SYS_ADMIN, as in an unprivileged
			// container.
			unavailable(t, "cannot create a network namespace: "+err.Error())
			return nil
		}
		t.Fatalf("netns: %v", err)
	}
	if ns == nil {
		t.Fatalf("netns: no free namespace name for pid %d", os.Getpid())
	}
	t.Cleanup(func() {
		if err := ns.delete(); err != nil {
			t.Errorf("netns: cleanup: %v", err)
		}
	})
	ns.ip(t, "link", "set", "dev", "lo", "up")
	return ns
}

// Name returns the namespace's name, as `ip netns` knows it.
func (ns *NS) Name() string { return ns.name }

// Delete deletes the links moved into the namespace and the namespace now,
// rather than at the end of the test. Later calls, and the cleanup, do
// nothing.
func (ns *NS) Delete(t testing.TB) {
	t.Helper()
	if err := ns.delete(); err != nil {
		t.Fatalf("netns: %v", err)
	}
}

func (ns *NS) delete() error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.deleted {
		return nil
	}
	ns.deleted = true
	var errs []error
	for _, link := range ns.moved {
		// The link may be gone already: a TAP device disappears
		// when the test closes its descriptor.
		if out, err := ipCommand("-n", ns.name, "link", "del", "dev", link); err != nil &&
			!strings.Contains(out, "Cannot find device") && !strings.Contains(out, "does not exist") {
			errs = append(errs, err)
		}
	}
	if _, err := ipCommand("netns", "del", ns.name); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Run runs the command args inside the namespace (`ip netns exec`) and
// returns its standard output; if the command fails, Run fails t with the
// command's standard error.
func (ns *NS) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.Output(args...)
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	return out
}

// Output runs the command args inside the namespace and returns its
// standard output. A failure's error quotes the command and its standard
// error.
func (ns *NS) Output(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return output(ns.Command(ctx, args...))
}

// Command returns a command that runs args inside the namespace, for tools
// that run alongside the test (socat, tcpdump, a server): the caller starts
// it and waits for it. Cancelling ctx kills it (`ip netns exec` executes the
// tool in its own process, so the tool itself gets the signal); WaitDelay is
// set so that Wait cannot hang on a pipe a grandchild keeps open.
func (ns *NS) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// MoveLink moves the interface ifname from the test process's namespace
// into ns. The cleanup deletes it (if it still exists) before deleting the
// namespace, so it does not come back.
func (ns *NS) MoveLink(t testing.TB, ifname string) {
	t.Helper()
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if _, err := ipCommand("link", "set", "dev", ifname, "netns", ns.name); err != nil {
		t.Fatalf("netns: %v", err)
	}
	ns.moved = append(ns.moved, ifname)
}

// AddrAdd adds the address p (address and prefix length, as in
// 10.77.0.1/24) to ifname inside the namespace. extra is appended to the ip
// command, e.g. "nodad" so that an IPv6 address is usable at once rather
// than after duplicate address detection.
func (ns *NS) AddrAdd(t testing.TB, ifname string, p netip.Prefix, extra ...string) {
	t.Helper()
	ns.ip(t, append([]string{"addr", "add", p.String(), "dev", ifname}, extra...)...)
}

// LinkUp brings ifname up inside the namespace.
func (ns *NS) LinkUp(t testing.TB, ifname string) {
	t.Helper()
	ns.ip(t, "link", "set", "dev", ifname, "up")
}

// SetMTU sets the MTU of ifname inside the namespace.
func (ns *NS) SetMTU(t testing.TB, ifname string, mtu int) {
	t.Helper()
	ns.ip(t, "link", "set", "dev", ifname, "mtu", strconv.Itoa(mtu))
}

// HardwareAddr returns the MAC address of ifname inside the namespace.
func (ns *NS) HardwareAddr(t testing.TB, ifname string) tcpip.LinkAddress {
	t.Helper()
	out := ns.ip(t, "-json", "link", "show", "dev", ifname)
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("netns: ip -json link show dev %s: unexpected output %q (%v)", ifname, out, err)
	}
	a, err := tcpip.ParseLinkAddress(links[0].Address)
	if err != nil {
		t.Fatalf("netns: address of %s: %v", ifname, err)
	}
	return a
}

// ip runs `ip -n NS args...` and returns its standard output, failing t on
// error.
func (ns *NS) ip(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ipCommand(append([]string{"-n", ns.name}, args...)...)
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	return out
}

// ipCommand runs the ip command in the test process's namespace. On error
// it returns the standard error as out, for the caller to inspect.
func ipCommand(args ...string) (out string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.WaitDelay = 5 * time.Second
	out, err = output(cmd)
	var ee *commandError
	if errors.As(err, &ee) {
		return ee.stderr, err
	}
	return out, err
}

// output runs cmd and returns its standard output; its error quotes the
// command line and its standard error.
func output(cmd *exec.Cmd) (string, error) {
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), &commandError{args: cmd.Args, err: err, stderr: stderr.String()}
	}
	return string(out), nil
}

// commandError is a failed command with what it wrote to standard error.
type commandError struct {
	args   []string
	err    error
	stderr string
}

func (e *commandError) Error() string {
	return fmt.Sprintf("%s: %v: %s", strings.Join(e.args, " "), e.err, strings.TrimSpace(e.stderr))
}

func (e *commandError) Unwrap() error { return e.err }

var ifCounter atomic.Uint64

// UniqueIfName returns an interface name that no other call in any running
// process returns: prefix, the process id and a counter, in base 36 and
// separated by '-', with prefix shortened so that the name fits in 15 bytes
// (IFNAMSIZ less the terminating NUL).
func UniqueIfName(prefix string) string {
	suffix := strconv.FormatInt(int64(os.Getpid()), 36) + "-" + strconv.FormatUint(ifCounter.Add(1), 36)
	if room := 15 - len(suffix); len(prefix) > room {
		prefix = prefix[:max(room, 0)]
	}
	return prefix + suffix
}
