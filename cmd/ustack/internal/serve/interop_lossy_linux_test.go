package serve_test

// Bulk TCP through a lossy link: ustack serve --loss 0.02 on a TAP device,
// 100 MiB each way with the Linux kernel's TCP, SHA-256 verified, while
// the kernel's tcp_info, tcpdump and ss(8) show what it negotiated.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ustack-go/ustack/cmd/ustack/internal/serve"
)

const (
	// lossySize is the bytes sent each way.
	lossySize = 100 << 20
	// lossyLoss is the frame loss of ustack's link, each direction.
	lossyLoss = 0.02
	// lossySeed seeds the losses.
	lossySeed = 7
	// lossyTimeout bounds one transfer: generous, as 2 % loss each way
	// costs the two TCPs most of the link's speed.
	lossyTimeout = 10 * time.Minute
	// lossySample is the interval of the ss samples.
	lossySample = 200 * time.Millisecond
)

// TestInteropTCPLossy transfers 100 MiB each way between ustack and the
// Linux kernel's TCP with 2 % of the frames lost each way (ustack's own
// impairment, --loss 0.02 --seed 7). The client is a Go program in the
// namespace (this test binary re-executed as TestHelperProcessTCPInfo):
// it GETs /bytes/N, whose chargen content the test hashes itself, and
// POSTs seeded random data to /sha256, which ustack hashes; SHA-256 must
// match both ways. The test shows:
//   - the kernel's own tcp_info of the client's socket, read with
//     getsockopt(TCP_INFO) mid-transfer and at the end: tcpi_options has
//     TIMESTAMPS and SACK in both directions (window scaling is logged);
//     on the download the kernel received segments out of order
//     (tcpi_rcv_ooopack > 0: ustack's losses, which it SACKs and ustack
//     repairs); on the upload the kernel retransmitted
//     (tcpi_total_retrans > 0) and, at some reading, held segments that
//     ustack's SACK blocks acknowledged (tcpi_sacked > 0);
//   - a tcpdump capture of the wire: the receiver's ACKs carry
//     timestamps and SACK blocks, the sender's segments timestamps;
//   - ss -tino samples of the kernel's connection: one shows "ts" and
//     "sack" (ss prints them only with -o);
//   - ustack's counters: it retransmitted.
func TestInteropTCPLossy(t *testing.T) {
	t.Parallel()
	requireTCP(t)
	u := start(t, []string{"ss", "tcpdump"}, func(cfg *serve.Config) {
		cfg.Loss = lossyLoss
		cfg.Seed = lossySeed
	})
	dst := u.addr.String() + ":80"

	t.Run("ustack-to-linux", func(t *testing.T) {
		ss := u.sampleSS(dst)
		dump := u.captureOptions()
		begin := time.Now()
		k, err := u.runKernelClient(t, "get", lossySize, lossySeed)
		took := time.Since(begin)
		samples := ss.stop()
		seen := dump.stop()
		if err != nil {
			t.Fatalf("GET /bytes/%d after %v: %v", lossySize, took, err)
		}
		if k.result.Status != http.StatusOK || k.result.Bytes != lossySize {
			t.Fatalf("GET /bytes/%d: status %d, %d bytes", lossySize, k.result.Status, k.result.Bytes)
		}
		if want := sha256.Sum256(chargen(lossySize)); k.result.Body != hex.EncodeToString(want[:]) {
			t.Errorf("SHA-256 of the %d bytes fetched = %s, want %x (chargen)", lossySize, k.result.Body, want)
		}
		t.Logf("%d MiB ustack → Linux in %v (%.1f Mbit/s) through %g %% loss each way",
			lossySize>>20, took.Round(time.Millisecond), float64(lossySize)*8/took.Seconds()/1e6, lossyLoss*100)
		checkKernelOptions(t, k)
		// RFC 2018 §4: segments after a hole arrive out of order at the
		// kernel, which reports them in SACK blocks until ustack fills
		// the hole.
		if k.end.RcvOooPack == 0 {
			t.Errorf("the kernel received no segment out of order through %g %% loss: tcpi_rcv_ooopack 0", lossyLoss*100)
		}
		checkSSOptions(t, samples)
		// The kernel receives: its ACKs carry timestamps and, through
		// the losses, SACK blocks.
		checkWireOptions(t, seen, u.kernel.Addr().String(), u.addr.String())
	})

	t.Run("linux-to-ustack", func(t *testing.T) {
		h := sha256.New()
		if _, err := io.Copy(h, seededData(lossySeed, lossySize)); err != nil {
			t.Fatal(err)
		}
		sum := hex.EncodeToString(h.Sum(nil))
		ss := u.sampleSS(dst)
		dump := u.captureOptions()
		begin := time.Now()
		k, err := u.runKernelClient(t, "post", lossySize, lossySeed)
		took := time.Since(begin)
		samples := ss.stop()
		seen := dump.stop()
		if err != nil {
			t.Fatalf("POST /sha256 after %v: %v", took, err)
		}
		if k.result.Status != http.StatusOK || k.result.Body != sum {
			t.Fatalf("POST /sha256 of %d bytes: status %d, %q; want %s", lossySize, k.result.Status, k.result.Body, sum)
		}
		t.Logf("%d MiB Linux → ustack in %v (%.1f Mbit/s) through %g %% loss each way",
			lossySize>>20, took.Round(time.Millisecond), float64(lossySize)*8/took.Seconds()/1e6, lossyLoss*100)
		checkKernelOptions(t, k)
		// The kernel sends: 2 % of its segments are lost and must be
		// retransmitted (RFC 6675 §5 / RFC 8985 on SACK scoreboard
		// evidence, or RFC 6298 §5 on a timeout).
		if k.end.TotalRetrans == 0 {
			t.Errorf("the kernel retransmitted nothing through %g %% loss: tcpi_total_retrans 0", lossyLoss*100)
		}
		// RFC 2018 §3: ustack's SACK blocks mark segments above a hole,
		// which the kernel's scoreboard counts in tcpi_sacked.
		if k.end.MaxSacked == 0 {
			t.Errorf("tcpi_sacked was 0 at all %d readings: the kernel saw no SACK block from ustack", k.end.Readings)
		}
		checkSSOptions(t, samples)
		// ustack receives: its ACKs carry timestamps and SACK blocks,
		// which it sends only if the kernel's SYN permitted SACK; the
		// kernel's data segments carry timestamps.
		checkWireOptions(t, seen, u.addr.String(), u.kernel.Addr().String())
	})

	c := u.stop()
	t.Logf("ustack: %d segments retransmitted (%d fast retransmits, %d retransmission timeouts)",
		c["TCP.Retransmits"], c["TCP.FastRetransmits"], c["TCP.Timeouts"])
	atLeast(t, c, "Serve.HTTPBytesSent", lossySize)
	atLeast(t, c, "Serve.HTTPBytesReceived", lossySize)
	if c["TCP.Retransmits"] == 0 {
		t.Errorf("ustack retransmitted nothing through %g %% loss: is --loss in effect? counters %v", lossyLoss*100, c)
	}
}

// ssSampler runs ss -tino in the namespace every lossySample and keeps
// the information lines of the connections to one address and port.
type ssSampler struct {
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	samples []string // guarded by mu
	errs    []string // guarded by mu
}

// sampleSS starts sampling the kernel's connections to dst ("addr:port").
func (u *instance) sampleSS(dst string) *ssSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &ssSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(lossySample)
		defer tick.Stop()
		for {
			out, err := u.ns.Command(ctx, "ss", "-tino", "dst", dst).Output()
			s.mu.Lock()
			if err != nil && ctx.Err() == nil {
				s.errs = append(s.errs, err.Error())
			}
			s.samples = append(s.samples, ssInfoLines(string(out), dst)...)
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the information lines seen.
func (s *ssSampler) stop() []string {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 && len(s.errs) > 0 {
		return []string{"ss failed: " + strings.Join(s.errs, "; ")}
	}
	return s.samples
}

// ssInfoLines returns, from the output of ss -tino, the information line
// (the indented one after the socket's line) of each connection whose
// peer is dst (the fifth column; -o appends the timer after it).
func ssInfoLines(out, dst string) []string {
	var info []string
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		fs := strings.Fields(l)
		if len(fs) < 5 || fs[4] != dst || i+1 >= len(lines) {
			continue
		}
		if next := lines[i+1]; strings.HasPrefix(next, "\t") || strings.HasPrefix(next, " ") {
			info = append(info, strings.TrimSpace(next))
		}
	}
	return info
}

// checkSSOptions requires a sample of the kernel's connection to show
// the SACK and timestamps options: ss -o prints "sack" and "ts" among the
// information fields when RFC 2018 and RFC 7323 were negotiated (without
// -o, iproute2's ss leaves them out, whatever tcp_info says).
func checkSSOptions(t *testing.T, samples []string) {
	t.Helper()
	for _, s := range samples {
		var sack, ts bool
		for _, f := range strings.Fields(s) {
			sack = sack || f == "sack"
			ts = ts || f == "ts"
		}
		if sack && ts {
			t.Logf("%d ss samples; one: %s", len(samples), s)
			return
		}
	}
	t.Errorf("no ss -tino sample of the connection shows both sack and ts (%d samples): %q", len(samples), samples)
}

// optionCapture counts the TCP segments of the test's link by sender,
// with and without the timestamps option and with SACK blocks, from
// tcpdump in the namespace.
type optionCapture struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

// lossyCapture is how many segments the capture looks at: enough for
// several losses to draw SACK blocks, few enough to be cheap.
const lossyCapture = 20000

// captureOptions starts tcpdump on the kernel's side of the TAP device.
func (u *instance) captureOptions() *optionCapture {
	c := &optionCapture{out: &bytes.Buffer{}, done: make(chan error, 1)}
	c.cmd = u.ns.Command(context.Background(), "tcpdump", "-l", "-nn", "-s", "128",
		"-c", strconv.Itoa(lossyCapture), "-i", u.ifname, "tcp")
	c.cmd.Stdout = c.out
	c.cmd.Stderr = io.Discard
	if err := c.cmd.Start(); err != nil {
		c.done <- err
		return c
	}
	go func() { c.done <- c.cmd.Wait() }()
	// tcpdump needs a moment to open the device.
	time.Sleep(time.Second)
	return c
}

// wireCounts are the segments of one sender in a capture.
type wireCounts struct {
	segments, withTS, withSACK int
}

// stop ends the capture and returns the counts by sender address.
func (c *optionCapture) stop() map[string]*wireCounts {
	if c.cmd.Process != nil {
		c.cmd.Process.Signal(os.Interrupt)
	}
	<-c.done
	counts := make(map[string]*wireCounts)
	// tcpdump prints a segment as "TIME IP A.port > B.port: Flags
	// [...], ..., options [...], length N".
	for _, l := range strings.Split(c.out.String(), "\n") {
		fs := strings.Fields(l)
		if len(fs) < 5 || fs[1] != "IP" || fs[3] != ">" {
			continue
		}
		src := fs[2]
		if i := strings.LastIndexByte(src, '.'); i > 0 {
			src = src[:i]
		}
		wc := counts[src]
		if wc == nil {
			wc = &wireCounts{}
			counts[src] = wc
		}
		wc.segments++
		if strings.Contains(l, "TS val ") {
			wc.withTS++
		}
		if strings.Contains(l, ",sack ") || strings.Contains(l, "[sack ") {
			wc.withSACK++
		}
	}
	return counts
}

// checkWireOptions requires that the receiver's segments in the capture
// carry timestamps (RFC 7323 §3.2: once negotiated, on every segment) and
// some SACK blocks (RFC 2018 §4: after losses, sent only when SACK was
// permitted), and the sender's timestamps.
func checkWireOptions(t *testing.T, seen map[string]*wireCounts, receiver, sender string) {
	t.Helper()
	r, s := seen[receiver], seen[sender]
	if r == nil || s == nil {
		t.Errorf("capture: no segments from %s or %s: %v", receiver, sender, seen)
		return
	}
	t.Logf("capture: %s sent %d segments (%d with timestamps, %d with SACK blocks), %s sent %d (%d with timestamps)",
		receiver, r.segments, r.withTS, r.withSACK, sender, s.segments, s.withTS)
	// The handshake's SYN may be the only segment without; the capture
	// starts before it.
	if r.withTS < r.segments-1 || s.withTS < s.segments-1 {
		t.Errorf("segments without the timestamps option: %s %d of %d, %s %d of %d", receiver, r.segments-r.withTS, r.segments, sender, s.segments-s.withTS, s.segments)
	}
	if r.withSACK == 0 {
		t.Errorf("%s sent no SACK block in %d segments through %g %% loss: SACK not negotiated", receiver, r.segments, lossyLoss*100)
	}
}
