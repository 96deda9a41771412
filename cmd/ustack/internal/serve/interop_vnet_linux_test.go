package serve_test

// Interoperability over a TAP device opened with the virtio-net header
// (--vnet-hdr): the kernel hands ustack partial checksums and TCP
// super-segments of up to 64 KiB, which the link completes and delivers
// whole. TestInteropTAPThroughput measures the TAP link both ways with and
// without the header (bench/TAP.md records its figures).

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ustack-go/ustack/cmd/ustack/internal/serve"
)

// vnetHdr is the configure function of start for --vnet-hdr.
func vnetHdr(cfg *serve.Config) { cfg.VnetHdr = true }

// linkPackets returns the kernel side's count of packets received (from
// ustack) or sent (to ustack) on u's device: a super-segment counts once.
func linkPackets(t *testing.T, u *instance, dir string) uint64 {
	t.Helper()
	out := strings.TrimSpace(u.ns.Run(t, "cat", "/sys/class/net/"+u.ifname+"/statistics/"+dir+"_packets"))
	n, err := strconv.ParseUint(out, 10, 64)
	if err != nil {
		t.Fatalf("%s_packets of %s: %q", dir, u.ifname, out)
	}
	return n
}

func TestInteropVnetHdrPing(t *testing.T) {
	t.Parallel()
	u := start(t, []string{"ping"}, vnetHdr)
	out := u.ns.Run(t, "ping", "-c", "3", "-i", "0.2", "-w", "10", u.addr.String())
	if n := received(t, out); n != 3 {
		t.Errorf("ping: %d replies of 3:\n%s", n, out)
	}
	// 3000 bytes: fragmented by the kernel, reassembled by ustack, and the
	// reply fragmented by ustack.
	out = u.ns.Run(t, "ping", "-c", "2", "-i", "0.2", "-s", "3000", "-w", "10", u.addr.String())
	if n := received(t, out); n != 2 {
		t.Errorf("ping -s 3000: %d replies of 2:\n%s", n, out)
	}
	c := u.stop()
	atLeast(t, c, "ICMPv4.Sent.EchoReply", 5)
}

func TestInteropVnetHdrTCPDownload(t *testing.T) {
	t.Parallel()
	requireTCP(t)
	u := start(t, []string{"curl", "cat"}, vnetHdr)
	const size = 100 << 20
	rx := linkPackets(t, u, "rx")
	file := filepath.Join(t.TempDir(), "bytes")
	url := fmt.Sprintf("http://%s/bytes/%d", u.addr, size)
	out, stderr, code := u.runTimed(3*time.Minute, nil, "curl", "-sS", "--fail", "-o", file, "-w", "%{http_code} %{size_download}", url)
	if code != 0 || string(out) != fmt.Sprintf("200 %d", size) {
		t.Fatalf("curl %s: exit %d, %q, %s", url, code, out, stderr)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := sha256.Sum256(got), sha256.Sum256(chargen(size)); g != w {
		t.Errorf("SHA-256 of the %d bytes fetched = %x, want %x (chargen)", len(got), g, w)
	}
	// ustack's segments reached the kernel merged into super-segments:
	// fewer frames than MSS-sized pieces of the download.
	if frames, pieces := linkPackets(t, u, "rx")-rx, uint64(size)/1448; frames >= pieces {
		t.Errorf("the kernel received %d frames for %d MSS-sized pieces: no super-segments from ustack", frames, pieces)
	} else {
		t.Logf("the kernel received %d frames for %d MSS-sized pieces", frames, pieces)
	}
	c := u.stop()
	atLeast(t, c, "Serve.HTTPBytesSent", size)
}

// The upload is where the header matters: the kernel's segments reach
// ustack as super-segments with partial checksums.
func TestInteropVnetHdrTCPUpload(t *testing.T) {
	t.Parallel()
	requireTCP(t)
	u := start(t, []string{"curl"}, vnetHdr)
	file, data := randomFile(t, 100<<20)
	sum := sha256.Sum256(data)
	out, stderr, code := u.runTimed(3*time.Minute, nil, "curl", "-sS", "--fail",
		"-H", "Content-Type: application/octet-stream", "--data-binary", "@"+file,
		"http://"+u.addr.String()+"/sha256")
	if code != 0 || strings.TrimSpace(string(out)) != hex.EncodeToString(sum[:]) {
		t.Fatalf("curl POST /sha256: exit %d, %q (%s); want %x", code, out, stderr, sum)
	}
	c := u.stop()
	atLeast(t, c, "Serve.HTTPBytesReceived", 100<<20)
	// Super-segments carry more than one MSS each: fewer segments than
	// MSS-sized pieces of the upload.
	if segs, min := c["TCP.SegmentsReceived"], uint64(100<<20)/1448; segs == 0 || segs >= min {
		t.Errorf("TCP.SegmentsReceived = %d for %d MSS-sized pieces: no super-segments", segs, min)
	}
}

// tapBenchEnv turns TestInteropTAPThroughput on; it moves gigabytes and
// takes minutes, so it is not part of the ordinary suite.
const tapBenchEnv = "USTACK_TAP_BENCH"

// TestInteropTAPThroughput measures curl ↔ ustack serve over the TAP link
// without and with --vnet-hdr, interleaved, in both directions: Linux →
// ustack is a POST of USTACK_TAP_BENCH_MIB MiB (default 1024) of random
// data to /sha256, whose digest is checked; ustack → Linux is a GET of
// /bytes/N to /dev/null, whose size is checked (SHA-256 of the download is
// TestInteropVnetHdrTCPDownload's job: piping 1 GiB to sha256sum would
// measure sha256sum). It logs the per-run figures and the medians; it
// asserts only correctness. Run with
//
//	USTACK_TAP_BENCH=1 go test -run TestInteropTAPThroughput -v ./cmd/ustack/internal/serve
func TestInteropTAPThroughput(t *testing.T) {
	if os.Getenv(tapBenchEnv) == "" {
		t.Skipf("set %s=1 to measure TAP throughput (minutes, gigabytes)", tapBenchEnv)
	}
	requireTCP(t)
	mib := envInt(t, "USTACK_TAP_BENCH_MIB", 1024)
	runs := envInt(t, "USTACK_TAP_BENCH_RUNS", 3)
	size := int64(mib) << 20
	file, sum := bigFile(t, size)
	t.Logf("kernel %s; load before: %s", strings.TrimSpace(cmdOut("uname", "-r")), strings.TrimSpace(cmdOut("uptime")))

	type result struct{ gbps, cpu float64 } // cpu: ustack's process CPU-seconds per GiB
	figures := map[string][]result{}
	for run := range runs {
		for _, vnet := range []bool{false, true} {
			name := "plain"
			configure := func(*serve.Config) {}
			if vnet {
				name, configure = "vnet-hdr", vnetHdr
			}
			t.Run(fmt.Sprintf("%s/%d", name, run), func(t *testing.T) {
				u := start(t, []string{"curl"}, configure)
				// Linux → ustack.
				cpu := cpuSeconds()
				out, stderr, code := u.runTimed(10*time.Minute, nil, "curl", "-sS", "--fail", "-X", "POST",
					"-H", "Content-Type: application/octet-stream", "-T", file,
					"-w", "\n%{size_upload} %{time_total}", "http://"+u.addr.String()+"/sha256")
				cpu = cpuSeconds() - cpu
				f := strings.Fields(string(out)) // digest, bytes, seconds
				if code != 0 || len(f) != 3 || f[0] != sum {
					t.Fatalf("upload: exit %d, %q (%s); want %s", code, out, stderr, sum)
				}
				up := rate(t, f[1]+" "+f[2], size)
				figures[name+" Linux→ustack"] = append(figures[name+" Linux→ustack"], result{up, cpu / float64(mib) * 1024})
				// ustack → Linux.
				cpu = cpuSeconds()
				url := fmt.Sprintf("http://%s/bytes/%d", u.addr, size)
				out, stderr, code = u.runTimed(10*time.Minute, nil, "curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url)
				cpu = cpuSeconds() - cpu
				if code != 0 {
					t.Fatalf("download: exit %d, %q (%s)", code, out, stderr)
				}
				down := rate(t, string(out), size)
				figures[name+" ustack→Linux"] = append(figures[name+" ustack→Linux"], result{down, cpu / float64(mib) * 1024})
				t.Logf("%s run %d: Linux→ustack %.2f Gbit/s, ustack→Linux %.2f Gbit/s", name, run, up, down)
				c := u.stop()
				atLeast(t, c, "Serve.HTTPBytesReceived", uint64(size))
				atLeast(t, c, "Serve.HTTPBytesSent", uint64(size))
			})
		}
	}
	t.Logf("load after: %s", strings.TrimSpace(cmdOut("uptime")))
	keys := make([]string, 0, len(figures))
	for k := range figures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		rs := figures[k]
		g := make([]float64, len(rs))
		c := make([]float64, len(rs))
		for i, r := range rs {
			g[i], c[i] = r.gbps, r.cpu
		}
		t.Logf("%-24s median %.2f Gbit/s (min %.2f, max %.2f, %d runs), ustack CPU %.2f s/GiB", k, median(g), slices.Min(g), slices.Max(g), len(g), median(c))
	}
}

// envInt returns the positive integer in the environment variable name,
// or def if it is unset.
func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// bigFile writes size bytes (a random MiB repeated) to a new file of the
// test and returns its name and hex SHA-256.
func bigFile(t *testing.T, size int64) (string, string) {
	t.Helper()
	block := make([]byte, 1<<20)
	rand.Read(block)
	name := filepath.Join(t.TempDir(), "upload")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	for left := size; left > 0; left -= int64(len(block)) {
		b := block[:min(left, int64(len(block)))]
		h.Write(b)
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	return name, hex.EncodeToString(h.Sum(nil))
}

// rate parses curl's "BYTES SECONDS", checks BYTES, and returns Gbit/s.
func rate(t *testing.T, s string, size int64) float64 {
	t.Helper()
	var n int64
	var secs float64
	if _, err := fmt.Sscanf(strings.TrimSpace(s), "%d %g", &n, &secs); err != nil || n != size || secs <= 0 {
		t.Fatalf("curl reported %q (%v); want %d bytes", s, err, size)
	}
	return float64(n) * 8 / secs / 1e9
}

// cpuSeconds returns the CPU time (user and system) of this process,
// which runs ustack.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(v syscall.Timeval) float64 { return float64(v.Sec) + float64(v.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// cmdOut returns a command's output, or the error.
func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return err.Error()
	}
	return string(out)
}

// median returns the median of xs (the mean of the middle two for an even
// count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Over IPv6 the kernel sends TCPv6 super-segments (TSO6), whose Payload
// Length counts the whole super-segment; both directions are checked by
// SHA-256.
func TestInteropVnetHdrTCP6(t *testing.T) {
	t.Parallel()
	requireTCP(t)
	u := start6(t, []string{"curl", "ip", "cat"}, vnetHdr)
	const size = 50 << 20
	up, data := randomFile(t, size)
	sum := sha256.Sum256(data)
	out, stderr, code := u.runTimed(2*time.Minute, nil, "curl", "-6", "-sS", "--fail",
		"-H", "Content-Type: application/octet-stream", "--data-binary", "@"+up, u.url6("/sha256"))
	if code != 0 || strings.TrimSpace(string(out)) != hex.EncodeToString(sum[:]) {
		t.Fatalf("curl -6 POST /sha256: exit %d, %q (%s); want %x", code, out, stderr, sum)
	}
	file := filepath.Join(t.TempDir(), "bytes")
	rx := linkPackets(t, u.instance, "rx")
	out, stderr, code = u.runTimed(2*time.Minute, nil, "curl", "-6", "-sS", "--fail", "-o", file, "-w", "%{http_code} %{size_download}", u.url6(fmt.Sprintf("/bytes/%d", size)))
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
	if frames, pieces := linkPackets(t, u.instance, "rx")-rx, uint64(size)/1428; frames >= pieces {
		t.Errorf("the kernel received %d frames for %d MSS-sized pieces: no super-segments from ustack", frames, pieces)
	}
	c := u.stop()
	atLeast(t, c, "Serve.HTTPBytesReceived", size)
	if segs, min := c["TCP.SegmentsReceived"], uint64(size)/1428; segs == 0 || segs >= min {
		t.Errorf("TCP.SegmentsReceived = %d for %d MSS-sized pieces: no super-segments", segs, min)
	}
}
