package serve_test

// A client of ustack's HTTP service that runs inside the test's namespace,
// on the Linux kernel's TCP, and reads the kernel's own view of its
// connection (getsockopt TCP_INFO) while the transfer is under way: the
// test binary re-executed as a helper process.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The environment of the helper process: its role ("get" or "post"), the
// server's address ("addr:port"), the bytes to move and the seed of the
// uploaded data.
const (
	helperRoleEnv = "USTACK_TCPINFO_HELPER"
	helperAddrEnv = "USTACK_TCPINFO_ADDR"
	helperSizeEnv = "USTACK_TCPINFO_SIZE"
	helperSeedEnv = "USTACK_TCPINFO_SEED"
)

// helperSample is the interval at which the helper reads TCP_INFO.
const helperSample = 20 * time.Millisecond

// The bits of tcpi_options (include/uapi/linux/tcp.h).
const (
	tcpiOptTimestamps = 0x1 // RFC 7323 timestamps negotiated
	tcpiOptSACK       = 0x2 // RFC 2018 SACK permitted by both sides
	tcpiOptWscale     = 0x4 // RFC 7323 window scaling negotiated
)

// kernelTCPInfo is what the helper reports of the kernel's tcp_info of its
// socket: one reading (Phase "mid", the first one after half of the bytes
// moved, or "end", after the response) with, at the end, the largest
// instantaneous counts seen by the periodic readings.
type kernelTCPInfo struct {
	Phase        string `json:"phase"`
	Options      uint8  `json:"tcpi_options"`
	SndWscale    uint8  `json:"tcpi_snd_wscale"`
	RcvWscale    uint8  `json:"tcpi_rcv_wscale"`
	RTT          uint32 `json:"tcpi_rtt_us"`
	TotalRetrans uint32 `json:"tcpi_total_retrans"`
	BytesRetrans uint64 `json:"tcpi_bytes_retrans"`
	TotalRTO     uint16 `json:"tcpi_total_rto"`
	Sacked       uint32 `json:"tcpi_sacked"`
	Lost         uint32 `json:"tcpi_lost"`
	Reordering   uint32 `json:"tcpi_reordering"`
	RcvOooPack   uint32 `json:"tcpi_rcv_ooopack"`
	DsackDups    uint32 `json:"tcpi_dsack_dups"`
	BytesAcked   uint64 `json:"tcpi_bytes_acked"`
	BytesRecv    uint64 `json:"tcpi_bytes_received"`
	Readings     int    `json:"readings,omitempty"`
	MaxSacked    uint32 `json:"max_sacked,omitempty"`
	MaxLost      uint32 `json:"max_lost,omitempty"`
}

// helperResult is the helper's account of the HTTP exchange: the status,
// the body's length and, for "get", the SHA-256 of the body it received,
// for "post", the body of the server's answer.
type helperResult struct {
	Status int    `json:"status"`
	Bytes  int64  `json:"bytes"`
	Body   string `json:"body"`
	Took   string `json:"took"`
}

// seededData is the n bytes of the upload: a ChaCha8 stream from seed, which
// the test and the helper generate independently.
func seededData(seed uint64, n int64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	return io.LimitReader(rand.NewChaCha8(key), n)
}

// TestHelperProcessTCPInfo is not a test: it is the client that
// TestInteropTCPLossy runs in its namespace, and returns at once unless
// helperRoleEnv is set. It writes "tcp_info JSON" and "result JSON" lines
// on standard output and exits non-zero on an error.
func TestHelperProcessTCPInfo(t *testing.T) {
	role := os.Getenv(helperRoleEnv)
	if role == "" {
		return
	}
	if err := tcpInfoClient(role); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", role, err)
		os.Exit(2)
	}
}

// tcpInfoClient does the helper's HTTP exchange and reports.
func tcpInfoClient(role string) error {
	addr := os.Getenv(helperAddrEnv)
	size, err := strconv.ParseInt(os.Getenv(helperSizeEnv), 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %v", helperSizeEnv, err)
	}
	seed, err := strconv.ParseUint(os.Getenv(helperSeedEnv), 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %v", helperSeedEnv, err)
	}
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	conn := c.(*net.TCPConn)
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	read := func() (*unix.TCPInfo, uint8, error) {
		var info *unix.TCPInfo
		var gerr error
		if err := raw.Control(func(fd uintptr) {
			info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		}); err != nil {
			return nil, 0, err
		}
		if gerr != nil {
			return nil, 0, gerr
		}
		// The byte after tcpi_options holds the bit fields
		// tcpi_snd_wscale:4 and tcpi_rcv_wscale:4, which unix.TCPInfo
		// leaves as padding; on little-endian machines the first field
		// is in the low bits.
		b := (*[unsafe.Sizeof(unix.TCPInfo{})]byte)(unsafe.Pointer(info))
		return info, b[unsafe.Offsetof(info.Options)+1], nil
	}

	var moved atomic.Int64 // body bytes sent or received so far
	s := &tcpInfoSampler{read: read, moved: &moved, half: size / 2, stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	begin := time.Now()
	res, err := exchange(conn, role, addr, size, seed, &moved)
	took := time.Since(begin)
	s.finish()
	if err != nil {
		return err
	}
	if s.err != nil {
		return s.err
	}
	end, wscale, err := read()
	if err != nil {
		return err
	}
	final := describe("end", end, wscale)
	final.Readings, final.MaxSacked, final.MaxLost = s.readings, s.maxSacked, s.maxLost
	res.Took = took.Round(time.Millisecond).String()
	for _, line := range []struct {
		kind string
		v    any
	}{{"tcp_info", s.mid}, {"tcp_info", final}, {"result", res}} {
		if line.v == (*kernelTCPInfo)(nil) {
			continue
		}
		j, err := json.Marshal(line.v)
		if err != nil {
			return err
		}
		fmt.Printf("%s %s\n", line.kind, j)
	}
	return nil
}

// exchange does the GET of /bytes/size (hashing the body) or the POST of
// size seeded bytes to /sha256 on conn, counting the body's bytes in moved.
func exchange(conn net.Conn, role, addr string, size int64, seed uint64, moved *atomic.Int64) (*helperResult, error) {
	var req *http.Request
	var err error
	switch role {
	case "get":
		req, err = http.NewRequest("GET", fmt.Sprintf("http://%s/bytes/%d", addr, size), nil)
	case "post":
		req, err = http.NewRequest("POST", "http://"+addr+"/sha256", &countingReader{r: seededData(seed, size), n: moved})
		if req != nil {
			req.ContentLength = size
			req.Header.Set("Content-Type", "application/octet-stream")
		}
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		return nil, err
	}
	// The connection is the helper's, not a transport's: it stays open
	// for the last TCP_INFO reading after the response.
	req.Close = true
	w := bufio.NewWriterSize(conn, 64<<10)
	if err := req.Write(w); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 64<<10), req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	res := &helperResult{Status: resp.StatusCode}
	if role == "get" {
		h := sha256.New()
		res.Bytes, err = io.Copy(h, &countingReader{r: resp.Body, n: moved})
		res.Body = hex.EncodeToString(h.Sum(nil))
	} else {
		var body []byte
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		res.Bytes, res.Body = int64(len(body)), strings.TrimSpace(string(body))
	}
	return res, err
}

// countingReader counts what it reads in n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// tcpInfoSampler reads TCP_INFO every helperSample until finish: it keeps
// the first reading after half of the body moved and the largest counts
// of segments SACKed and presumed lost (instantaneous values, which the
// end of the transfer clears).
type tcpInfoSampler struct {
	read  func() (*unix.TCPInfo, uint8, error)
	moved *atomic.Int64
	half  int64
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	// Written by run, read after done is closed.
	mid                *kernelTCPInfo
	readings           int
	maxSacked, maxLost uint32
	err                error
}

func (s *tcpInfoSampler) run() {
	defer close(s.done)
	tick := time.NewTicker(helperSample)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		info, wscale, err := s.read()
		if err != nil {
			s.err = err
			return
		}
		s.readings++
		s.maxSacked = max(s.maxSacked, info.Sacked)
		s.maxLost = max(s.maxLost, info.Lost)
		if s.mid == nil && s.moved.Load() >= s.half {
			s.mid = describe("mid", info, wscale)
		}
	}
}

// finish stops the readings and waits for the last one.
func (s *tcpInfoSampler) finish() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// describe picks the fields of a reading.
func describe(phase string, info *unix.TCPInfo, wscale uint8) *kernelTCPInfo {
	return &kernelTCPInfo{
		Phase:        phase,
		Options:      info.Options,
		SndWscale:    wscale & 0xf,
		RcvWscale:    wscale >> 4,
		RTT:          info.Rtt,
		TotalRetrans: info.Total_retrans,
		BytesRetrans: info.Bytes_retrans,
		TotalRTO:     info.Total_rto,
		Sacked:       info.Sacked,
		Lost:         info.Lost,
		Reordering:   info.Reordering,
		RcvOooPack:   info.Rcv_ooopack,
		DsackDups:    info.Dsack_dups,
		BytesAcked:   info.Bytes_acked,
		BytesRecv:    info.Bytes_received,
	}
}

// kernelClient is the outcome of one run of the helper.
type kernelClient struct {
	mid, end *kernelTCPInfo
	result   helperResult
	lines    []string // the helper's report lines, for the log
}

// runKernelClient runs the helper in the namespace as role against
// ustack's HTTP service and parses its report.
func (u *instance) runKernelClient(t *testing.T, role string, size int64, seed uint64) (*kernelClient, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), lossyTimeout)
	defer cancel()
	// Not /proc/self/exe: ip netns exec resolves it to ip itself.
	cmd := u.ns.Command(ctx, exe, "-test.run=^TestHelperProcessTCPInfo$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		helperRoleEnv+"="+role,
		helperAddrEnv+"="+u.addr.String()+":80",
		helperSizeEnv+"="+strconv.FormatInt(size, 10),
		helperSeedEnv+"="+strconv.FormatUint(seed, 10))
	var stdout bytes.Buffer
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) || ctx.Err() != nil {
			return nil, fmt.Errorf("helper %s: %v: %s%s", role, err, stderr.String(), stdout.String())
		}
		return nil, err
	}
	k := &kernelClient{}
	var haveResult bool
	for _, l := range strings.Split(stdout.String(), "\n") {
		kind, j, ok := strings.Cut(l, " ")
		switch {
		case !ok:
		case kind == "tcp_info":
			var info kernelTCPInfo
			if err := json.Unmarshal([]byte(j), &info); err != nil {
				return nil, fmt.Errorf("helper %s: %q: %v", role, l, err)
			}
			switch info.Phase {
			case "mid":
				k.mid = &info
			case "end":
				k.end = &info
			}
			k.lines = append(k.lines, l)
		case kind == "result":
			if err := json.Unmarshal([]byte(j), &k.result); err != nil {
				return nil, fmt.Errorf("helper %s: %q: %v", role, l, err)
			}
			haveResult = true
			k.lines = append(k.lines, l)
		}
	}
	if k.end == nil || !haveResult {
		return nil, fmt.Errorf("helper %s: no report in %q (%s)", role, stdout.String(), stderr.String())
	}
	return k, nil
}

// checkKernelOptions requires that the kernel's tcp_info of its socket,
// mid-transfer (if the helper read it then) and at the end, shows the
// timestamps (RFC 7323 §3.2) and SACK (RFC 2018 §2) options in use.
func checkKernelOptions(t *testing.T, k *kernelClient) {
	t.Helper()
	for _, l := range k.lines {
		t.Log(l)
	}
	if k.mid == nil {
		t.Errorf("the helper read no tcp_info after half of the transfer (%d readings)", k.end.Readings)
	}
	for _, info := range []*kernelTCPInfo{k.mid, k.end} {
		if info == nil {
			continue
		}
		if info.Options&tcpiOptTimestamps == 0 {
			t.Errorf("%s: tcpi_options %#x lacks TIMESTAMPS (%#x)", info.Phase, info.Options, tcpiOptTimestamps)
		}
		if info.Options&tcpiOptSACK == 0 {
			t.Errorf("%s: tcpi_options %#x lacks SACK (%#x)", info.Phase, info.Options, tcpiOptSACK)
		}
	}
}
