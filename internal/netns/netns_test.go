package netns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ustack-go/ustack/internal/leakcheck"
)

// namespaceExists reports whether `ip netns list` shows name.
func namespaceExists(t *testing.T, name string) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// linkExists reports whether the test process's namespace has ifname.
func linkExists(ifname string) bool {
	return exec.Command("ip", "link", "show", "dev", ifname).Run() == nil
}

func TestNewRunCleanup(t *testing.T) {
	leakcheck.Check(t)
	RequireRoot(t)
	var name string
	t.Run("use", func(t *testing.T) {
		ns := New(t)
		name = ns.Name()
		if !strings.HasPrefix(name, fmt.Sprintf("ustk-%d-", os.Getpid())) {
			t.Errorf("name %q lacks the ustk-PID- prefix", name)
		}
		if !namespaceExists(t, name) {
			t.Fatalf("namespace %s not listed by ip netns list", name)
		}
		out := ns.Run(t, "ip", "link", "show")
		// The new namespace has only its loopback, and New brought it up.
		if !strings.Contains(out, "lo:") || !strings.Contains(out, "UP") {
			t.Errorf("ip link in %s:\n%s", name, out)
		}
		if n := strings.Count(out, "link/"); n != 1 {
			t.Errorf("%d links in a new namespace, want 1:\n%s", n, out)
		}
		// The namespace has its own stack: its loopback answers.
		ns.Run(t, "ip", "addr", "show", "dev", "lo")
	})
	if name == "" {
		t.Fatal("subtest did not create a namespace")
	}
	if namespaceExists(t, name) {
		t.Errorf("namespace %s still exists after the test's cleanup", name)
	}
	if _, err := os.Stat("/run/netns/" + name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/run/netns/%s: %v, want not exist", name, err)
	}
}

func TestMoveLinkAndConfigure(t *testing.T) {
	leakcheck.Check(t)
	RequireRoot(t)
	link := UniqueIfName("ustkt")
	// A persistent TAP device of the test process's namespace.
	if out, err := exec.Command("ip", "tuntap", "add", "mode", "tap", "name", link).CombinedOutput(); err != nil {
		t.Fatalf("ip tuntap add: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if linkExists(link) {
			exec.Command("ip", "link", "del", "dev", link).Run()
		}
	})
	var name string
	t.Run("move", func(t *testing.T) {
		ns := New(t)
		name = ns.Name()
		ns.MoveLink(t, link)
		if linkExists(link) {
			t.Errorf("%s still in the test's namespace after MoveLink", link)
		}
		ns.AddrAdd(t, link, netip.MustParsePrefix("10.77.9.1/24"))
		ns.AddrAdd(t, link, netip.MustParsePrefix("fd00:77:9::1/64"), "nodad")
		ns.SetMTU(t, link, 1400)
		ns.LinkUp(t, link)
		out := ns.Run(t, "ip", "addr", "show", "dev", link)
		for _, want := range []string{"inet 10.77.9.1/24", "inet6 fd00:77:9::1/64", "mtu 1400", ",UP"} {
			if !strings.Contains(out, want) {
				t.Errorf("ip addr show in the namespace lacks %q:\n%s", want, out)
			}
		}
		if a := ns.HardwareAddr(t, link); !a.IsUnicast() {
			t.Errorf("HardwareAddr = %v, want a unicast MAC", a)
		}
	})
	if namespaceExists(t, name) {
		t.Errorf("namespace %s still exists", name)
	}
	// Deleted with the namespace, not handed back to the test's namespace.
	if linkExists(link) {
		t.Errorf("%s came back to the test's namespace", link)
	}
}

func TestDeleteEarly(t *testing.T) {
	leakcheck.Check(t)
	ns := New(t)
	ns.Delete(t)
	if namespaceExists(t, ns.Name()) {
		t.Errorf("namespace %s exists after Delete", ns.Name())
	}
	ns.Delete(t) // no-op, as is the cleanup
}

func TestOutputAndCommand(t *testing.T) {
	leakcheck.Check(t)
	ns := New(t)
	if out, err := ns.Output("sh", "-c", "echo out; echo oops >&2; exit 3"); err == nil {
		t.Errorf("Output of a failing command: no error, output %q", out)
	} else if !strings.Contains(err.Error(), "oops") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("error does not quote stderr and status: %v", err)
	}
	if out, err := ns.Output("sh", "-c", "echo out; echo warn >&2"); err != nil || out != "out\n" {
		t.Errorf("Output = %q, %v; want stdout only", out, err)
	}
	// A long-running tool stops when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	cmd := ns.Command(ctx, "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := cmd.Wait(); err == nil {
		t.Error("Wait after cancel: no error, want the kill's")
	}
}

func TestUniqueIfName(t *testing.T) {
	seen := map[string]bool{}
	for _, prefix := range []string{"", "u", "ustk", "averyveryverylongprefix"} {
		for range 500 {
			n := UniqueIfName(prefix)
			if len(n) > 15 || len(n) == 0 {
				t.Fatalf("UniqueIfName(%q) = %q: %d bytes", prefix, n, len(n))
			}
			if seen[n] {
				t.Fatalf("UniqueIfName(%q) = %q twice", prefix, n)
			}
			seen[n] = true
		}
	}
	if n := UniqueIfName("tap"); !strings.HasPrefix(n, "tap") {
		t.Errorf("UniqueIfName(tap) = %q, prefix dropped", n)
	}
}

// recordTB records whether a helper skipped or failed.
type recordTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordTB) Helper()                           {}
func (r *recordTB) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recordTB) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestRequireToolsSkipOrFail(t *testing.T) {
	const tool = "ustack-no-such-tool"
	t.Setenv(EnvRequire, "")
	r := &recordTB{TB: t}
	RequireTools(r, "sh", tool)
	if !strings.Contains(r.skipped, tool) || r.failed != "" {
		t.Errorf("without %s: skipped %q, failed %q; want a skip naming %s", EnvRequire, r.skipped, r.failed, tool)
	}
	t.Setenv(EnvRequire, "1")
	r = &recordTB{TB: t}
	RequireTools(r, tool)
	if !strings.Contains(r.failed, tool) || r.skipped != "" {
		t.Errorf("with %s=1: skipped %q, failed %q; want a failure naming %s", EnvRequire, r.skipped, r.failed, tool)
	}
	r = &recordTB{TB: t}
	RequireTools(r, "sh")
	if r.failed != "" || r.skipped != "" {
		t.Errorf("present tool: skipped %q, failed %q", r.skipped, r.failed)
	}
}
