package main

import (
	"bufio"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/internal/netns"
)

// goTool returns the go command: the one go test runs under (GOROOT is set
// in its environment), else the first on PATH.
func goTool(t *testing.T) string {
	t.Helper()
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build ustack: %v", err)
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestServeBinary builds the ustack command, runs `ustack serve` on a TAP
// device it creates, pings it from a namespace, stops it with SIGTERM and
// checks its exit status and the counters it prints.
func TestServeBinary(t *testing.T) {
	leakcheck.Check(t)
	netns.RequireTools(t, "ping")
	ns := netns.New(t)

	bin := filepath.Join(t.TempDir(), "ustack")
	build := exec.Command(goTool(t), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	name := netns.UniqueIfName("ustk")
	kernel := netip.MustParsePrefix("10.80.200.1/24")
	addr := netip.MustParseAddr("10.80.200.2")
	cmd := exec.Command(bin, "serve", "--tap", name, "--addr", addr.String()+"/24", "--route", "default,10.80.200.1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting ustack: %v", err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		// Wait only once stdout is drained (exec.Cmd's rule).
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		// The process is gone unless the test failed before stopping
		// it; its device goes with it.
		cmd.Process.Kill()
		for range lines {
		}
		<-exited
		if t.Failed() {
			t.Logf("ustack's stderr:\n%s", stderr.String())
		}
	})

	select {
	case line, ok := <-lines:
		if !ok || line != "ready" {
			t.Fatalf("first line of output %q (open %v), want \"ready\"", line, ok)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ustack not ready after 30s")
	}

	ns.MoveLink(t, name)
	ns.AddrAdd(t, name, kernel)
	ns.LinkUp(t, name)
	out := ns.Run(t, "ping", "-c", "3", "-W", "2", addr.String())
	if !strings.Contains(out, "3 received") {
		t.Errorf("ping:\n%s", out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var counters []string
	timeout := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			counters = append(counters, line)
		case <-timeout:
			t.Fatal("ustack still running 30s after SIGTERM")
		}
	}
	if err := <-exited; err != nil {
		t.Errorf("ustack exited with %v, want status 0", err)
	}
	exited <- nil // for the cleanup

	values := map[string]uint64{}
	for _, line := range counters {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Errorf("bad counter line %q", line)
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil || v == 0 {
			t.Errorf("bad counter line %q", line)
		}
		values[f[0]] = v
	}
	for _, name := range []string{"ICMPv4.Received.EchoRequest", "ICMPv4.Sent.EchoReply"} {
		if values[name] < 3 {
			t.Errorf("%s = %d, want at least 3; output:\n%s", name, values[name], strings.Join(counters, "\n"))
		}
	}
	if !strings.Contains(stderr.String(), "level=INFO") {
		t.Errorf("no log on stderr: %q", stderr.String())
	}
	// ustack created the device, and it went away with ustack.
	if out, err := ns.Output("ip", "link", "show", "dev", name); err == nil {
		t.Errorf("device %s still exists after ustack exited: %s", name, out)
	}
}
