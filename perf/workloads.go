package perf

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Application sizes of the workloads.
const (
	chunk   = 64 << 10 // bulk and lossy writes and reads
	msgSize = 64       // rr and crr requests and responses, udp datagrams
	port    = 5001     // the server's port
)

const (
	gib = 1 << 30
	mib = 1 << 20
)

var bulkWorkload = &Workload{
	Name: "bulk",
	Doc:  "one connection: the client writes in 64 KiB writes, then closes; the server reads to EOF",
	Metrics: []MetricInfo{
		{Name: "gbps", Unit: "Gbit/s", HigherBetter: true},
		{Name: "cpu_s_per_gib", Unit: "CPU-s/GiB"},
		{Name: "allocs_per_mib", Unit: "allocs/MiB"},
		// Not a target: a lossless link should see none, and a stack
		// that overruns the link's queue shows it here.
		{Name: "retransmits", Unit: "segments"},
	},
	run: runBulk,
}

var rrWorkload = &Workload{
	Name: "rr",
	Doc:  "one connection: 64-byte requests, each answered by a 64-byte response",
	Metrics: []MetricInfo{
		{Name: "tps", Unit: "trans/s", HigherBetter: true},
		{Name: "lat_mean_us", Unit: "µs"},
		{Name: "lat_p50_us", Unit: "µs"},
		{Name: "lat_p99_us", Unit: "µs"},
	},
	run: runRR,
}

var crrWorkload = &Workload{
	Name: "crr",
	Doc:  "sequential connections: dial, 64-byte request, 64-byte response, the client closes",
	Metrics: []MetricInfo{
		{Name: "conns_per_s", Unit: "conns/s", HigherBetter: true},
		{Name: "lat_mean_us", Unit: "µs"},
		{Name: "lat_p50_us", Unit: "µs"},
		{Name: "lat_p99_us", Unit: "µs"},
	},
	run: runCRR,
}

var udpWorkload = &Workload{
	Name: "udp",
	Doc:  "64-byte datagrams written back to back by a connected client to a server that counts them",
	Metrics: []MetricInfo{
		{Name: "sent_pps", Unit: "dgrams/s", HigherBetter: true},
		{Name: "recv_pps", Unit: "dgrams/s", HigherBetter: true},
		{Name: "loss_pct", Unit: "%"},
	},
	run: runUDP,
}

var idleWorkload = &Workload{
	Name: "idle",
	Doc:  "connections opened and held, no goroutine per connection in the harness",
	Metrics: []MetricInfo{
		{Name: "heap_inuse_per_conn", Unit: "B/conn"},
		{Name: "goroutines_per_conn", Unit: "goroutines/conn"},
	},
	run: runIdle,
}

var lossyWorkload = &Workload{
	Name: "lossy",
	Doc:  "seeded pseudo-random data over a link losing 1 % of frames each way, SHA-256 verified",
	Metrics: []MetricInfo{
		{Name: "gbps", Unit: "Gbit/s", HigherBetter: true},
		{Name: "sha256_ok", Unit: "", HigherBetter: true, Bool: true},
		{Name: "retransmits", Unit: "segments"},
		{Name: "rto_timeouts", Unit: "RTOs"},
	},
	run: runLossy,
}

// connect returns the two ends of a new connection, client then server,
// with the run's deadline set on both.
func (r *runner) connect(l net.Listener) (c, s net.Conn, err error) {
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.Accept()
		ch <- accepted{c, err}
	}()
	ctx, cancel := r.ctx()
	defer cancel()
	c, err = r.pair.DialTCP(ctx, port)
	if err != nil {
		l.Close() // unblocks Accept
		<-ch
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	a := <-ch
	if a.err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("accept: %w", a.err)
	}
	c.SetDeadline(r.deadline)
	a.c.SetDeadline(r.deadline)
	return c, a.c, nil
}

// timeout turns a deadline error into errTimeout.
func timeout(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %v", errTimeout, err)
	}
	return err
}

// stream sends total bytes of src (repeated) over a new connection, 64 KiB
// per write, and reads them on the server into dst (when dst is not nil)
// or a scratch buffer. It times the transfer from the first write to the
// server's EOF and returns the bytes the server read.
func (r *runner) stream(src []byte, total int64, dst []byte) (int64, error) {
	l, err := r.pair.ListenTCP(port)
	if err != nil {
		return 0, fmt.Errorf("listen: %w", err)
	}
	c, s, err := r.connect(l)
	l.Close()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	defer c.Close()

	type readResult struct {
		n   int64
		err error
	}
	done := make(chan readResult, 1)
	scratch := make([]byte, chunk)
	go func() {
		var n int64
		for {
			buf := scratch
			if dst != nil && n < int64(len(dst)) {
				buf = dst[n:min(n+chunk, int64(len(dst)))]
			}
			m, err := s.Read(buf)
			n += int64(m)
			if err == io.EOF {
				done <- readResult{n, nil}
				return
			}
			if err != nil {
				done <- readResult{n, err}
				return
			}
		}
	}()

	r.begin(total)
	var sent int64
	var werr error
	for sent < total {
		off := sent % int64(len(src))
		n := min(int64(chunk), total-sent, int64(len(src))-off)
		m, err := c.Write(src[off : off+n])
		sent += int64(m)
		r.done.Store(sent)
		if err != nil {
			werr = err
			break
		}
	}
	if werr == nil {
		werr = c.Close()
	}
	if werr != nil {
		c.Close()
		s.Close()
		<-done
		return 0, fmt.Errorf("write: %w", timeout(werr))
	}
	res := <-done
	r.end()
	if res.err != nil {
		return res.n, fmt.Errorf("read: %w", timeout(res.err))
	}
	return res.n, nil
}

func runBulk(r *runner) ([]Metric, error) {
	total := r.cfg.Sizes.BulkBytes
	src := make([]byte, chunk)
	for i := range src {
		src[i] = byte(i)
	}
	var c0 Counters
	r.onBegin = func() { c0 = r.pair.Counters() }
	n, err := r.stream(src, total, nil)
	if err != nil {
		return nil, err
	}
	if n != total {
		return nil, fmt.Errorf("server read %d bytes, client sent %d", n, total)
	}
	c1 := r.pair.Counters()
	return []Metric{
		{"gbps", float64(n) * 8 / r.elapsed.Seconds() / 1e9},
		{"cpu_s_per_gib", r.cpu.Seconds() / (float64(n) / gib)},
		{"allocs_per_mib", float64(r.mallocs) / (float64(n) / mib)},
		{"retransmits", float64(c1.Retransmits - c0.Retransmits)},
	}, nil
}

// latencyMetrics returns the mean, median and 99th percentile of lat in
// microseconds.
func latencyMetrics(lat []time.Duration) []Metric {
	if len(lat) == 0 {
		return nil
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	// Nearest-rank percentiles.
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return []Metric{
		{"lat_mean_us", us(sum / time.Duration(len(lat)))},
		{"lat_p50_us", us(rank(0.50))},
		{"lat_p99_us", us(rank(0.99))},
	}
}

// echoOnce reads a request of msgSize bytes from c and writes it back.
func echoOnce(c net.Conn, buf []byte) error {
	if _, err := io.ReadFull(c, buf[:msgSize]); err != nil {
		return err
	}
	_, err := c.Write(buf[:msgSize])
	return err
}

// transact writes a request of msgSize bytes and reads the response.
func transact(c net.Conn, buf []byte) error {
	if _, err := c.Write(buf[:msgSize]); err != nil {
		return err
	}
	_, err := io.ReadFull(c, buf[:msgSize])
	return err
}

func runRR(r *runner) ([]Metric, error) {
	n := r.cfg.Sizes.RRTransactions
	l, err := r.pair.ListenTCP(port)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	c, s, err := r.connect(l)
	l.Close()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	defer c.Close()
	served := make(chan error, 1)
	go func() {
		buf := make([]byte, msgSize)
		for {
			if err := echoOnce(s, buf); err != nil {
				if err == io.EOF {
					err = nil
				}
				served <- err
				return
			}
		}
	}()
	lat := make([]time.Duration, n)
	buf := make([]byte, msgSize)
	r.begin(int64(n))
	for i := range lat {
		t0 := time.Now()
		if err := transact(c, buf); err != nil {
			c.Close()
			s.Close()
			<-served
			return nil, fmt.Errorf("transaction %d: %w", i, timeout(err))
		}
		lat[i] = time.Since(t0)
		r.done.Store(int64(i + 1))
	}
	r.end()
	c.Close()
	if err := <-served; err != nil {
		return nil, fmt.Errorf("server: %w", timeout(err))
	}
	return append([]Metric{{"tps", float64(n) / r.elapsed.Seconds()}}, latencyMetrics(lat)...), nil
}

func runCRR(r *runner) ([]Metric, error) {
	n := r.cfg.Sizes.CRRConnections
	l, err := r.pair.ListenTCP(port)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	served := make(chan error, 1)
	go func() {
		buf := make([]byte, msgSize)
		for {
			s, err := l.Accept()
			if err != nil {
				served <- nil // the listener was closed
				return
			}
			s.SetDeadline(r.deadline)
			err = echoOnce(s, buf)
			for err == nil { // read to the client's close
				_, err = s.Read(buf)
			}
			s.Close()
			if err != io.EOF {
				served <- fmt.Errorf("server: %w", timeout(err))
				l.Close()
				return
			}
		}
	}()
	fail := func(err error) ([]Metric, error) {
		l.Close()
		if serr := <-served; serr != nil {
			err = fmt.Errorf("%w (%v)", err, serr)
		}
		return nil, err
	}
	buf := make([]byte, msgSize)
	dial := func() error {
		ctx, cancel := r.ctx()
		defer cancel()
		c, err := r.pair.DialTCP(ctx, port)
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		defer c.Close()
		c.SetDeadline(r.deadline)
		if err := transact(c, buf); err != nil {
			return timeout(err)
		}
		return c.Close()
	}
	// One untimed connection resolves the link addresses.
	if err := dial(); err != nil {
		return fail(fmt.Errorf("warm-up connection: %w", err))
	}
	lat := make([]time.Duration, n)
	r.begin(int64(n))
	for i := range lat {
		t0 := time.Now()
		if err := dial(); err != nil {
			return fail(fmt.Errorf("connection %d: %w", i, err))
		}
		lat[i] = time.Since(t0)
		r.done.Store(int64(i + 1))
	}
	r.end()
	l.Close()
	if err := <-served; err != nil {
		return nil, err
	}
	return append([]Metric{{"conns_per_s", float64(n) / r.elapsed.Seconds()}}, latencyMetrics(lat)...), nil
}

func runUDP(r *runner) ([]Metric, error) {
	n := r.cfg.Sizes.UDPDatagrams
	pc, err := r.pair.ListenUDP(port)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	defer pc.Close()
	c, err := r.pair.DialUDP(port)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	pc.SetReadDeadline(r.deadline)
	buf := make([]byte, msgSize)
	rbuf := make([]byte, 2048)
	// One untimed datagram resolves the link addresses.
	if _, err := c.Write(buf); err != nil {
		return nil, fmt.Errorf("warm-up write: %w", err)
	}
	if _, _, err := pc.ReadFrom(rbuf); err != nil {
		return nil, fmt.Errorf("warm-up read: %w", timeout(err))
	}

	var last time.Time // guarded by the channel: written before the send
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			if _, _, err := pc.ReadFrom(rbuf); err != nil {
				return
			}
			last = time.Now()
			if r.done.Add(1) == int64(n) {
				return
			}
		}
	}()
	r.begin(int64(n))
	sent := 0
	for range n {
		if _, err := c.Write(buf); err == nil {
			sent++
		}
	}
	sendDur := time.Since(r.start)
	// Wait for the rest, until nothing has come for 200 ms.
	prev, quiet := int64(-1), 0
	for {
		select {
		case <-recvDone:
		case <-time.After(10 * time.Millisecond):
			if got := r.done.Load(); got != prev {
				prev, quiet = got, 0
				continue
			}
			if quiet++; quiet < 20 {
				continue
			}
			pc.SetReadDeadline(time.Now())
			<-recvDone
		}
		break
	}
	r.end()
	got := r.done.Load()
	recvPPS := 0.0
	if got > 0 {
		recvPPS = float64(got) / last.Sub(r.start).Seconds()
	}
	return []Metric{
		{"sent_pps", float64(sent) / sendDur.Seconds()},
		{"recv_pps", recvPPS},
		{"loss_pct", 100 * float64(int64(n)-got) / float64(n)},
	}, nil
}

func runIdle(r *runner) ([]Metric, error) {
	n := r.cfg.Sizes.IdleConnections
	l, err := r.pair.ListenTCP(port)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	defer l.Close()
	// Warm up: the link addresses, the stacks' lazily built tables.
	c0, s0, err := r.connect(l)
	if err != nil {
		return nil, err
	}
	c0.Close()
	s0.Close()

	clients := make([]net.Conn, 0, n)
	servers := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
		for _, s := range servers {
			s.Close()
		}
	}()
	// The progress goroutine is the harness's, not one per connection:
	// it runs at both counts.
	r.startProgress(int64(n))
	if rl, ok := r.pair.(Releaser); ok {
		rl.ReleaseFreeMemory()
	}
	heap0, g0 := heapInuse(), runtime.NumGoroutine()
	// One goroutine accepts every connection.
	accepted := make(chan error, 1)
	go func() {
		for len(servers) < n {
			s, err := l.Accept()
			if err != nil {
				accepted <- err
				return
			}
			servers = append(servers, s)
		}
		accepted <- nil
	}()
	for i := range n {
		ctx, cancel := r.ctx()
		c, err := r.pair.DialTCP(ctx, port)
		cancel()
		if err != nil {
			l.Close()
			<-accepted
			return nil, fmt.Errorf("dial %d: %w", i, err)
		}
		clients = append(clients, c)
		r.done.Store(int64(i + 1))
	}
	if err := <-accepted; err != nil {
		return nil, fmt.Errorf("accept: %w", err)
	}
	// The accepting goroutine has exited.
	heap1, g1 := heapInuse(), runtime.NumGoroutine()
	r.stopProgress()
	return []Metric{
		{"heap_inuse_per_conn", float64(int64(heap1)-int64(heap0)) / float64(n)},
		{"goroutines_per_conn", float64(g1-g0) / float64(n)},
	}, nil
}

// heapInuse collects garbage until the heap in use stops shrinking and
// returns the bytes in in-use heap spans. One or two collections are not
// always enough: objects reachable from finalizers or cleanups (another
// stack's, of the run before in an interleaved benchmark) are freed a
// cycle after those ran, on their own goroutine; measured once, that
// memory went away during the next measurement and the idle heap per
// connection of a run came out negative.
func heapInuse() uint64 {
	var ms runtime.MemStats
	last := uint64(math.MaxUint64)
	for range 8 {
		runtime.GC()
		time.Sleep(time.Millisecond) // finalizers and cleanups run
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse >= last-last/200 {
			break // shrank by less than 0.5 %
		}
		last = ms.HeapInuse
	}
	return ms.HeapInuse
}

// lossyData caches the data of the lossy workload and its digest, so that
// runs do not regenerate it, and the server's receive buffer.
var lossyData struct {
	sync.Mutex
	seed uint64
	src  []byte
	dst  []byte
	sum  [sha256.Size]byte
}

// lossyBuffers returns size bytes of pseudo-random data drawn from seed, its
// SHA-256 digest and a receive buffer of the same size.
func lossyBuffers(size int64, seed uint64) (src, dst []byte, sum [sha256.Size]byte) {
	d := &lossyData
	d.Lock()
	defer d.Unlock()
	if int64(len(d.src)) != size || d.seed != seed {
		d.src, d.dst = nil, nil
		runtime.GC()
		src := make([]byte, size)
		rng := rand.New(rand.NewPCG(seed, 0x6c6f737379)) // "lossy"
		for i := 0; i < len(src); i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < len(src); j++ {
				src[i+j] = byte(v >> (8 * j))
			}
		}
		d.src, d.dst, d.seed = src, make([]byte, size), seed
		d.sum = sha256.Sum256(src)
	}
	return d.src, d.dst, d.sum
}

func runLossy(r *runner) ([]Metric, error) {
	total := r.cfg.Sizes.LossyBytes
	src, dst, want := lossyBuffers(total, r.cfg.Seed)
	clear(dst)
	// The counters of the handshake (its SYN may be lost) do not count.
	var c0 Counters
	r.onBegin = func() { c0 = r.pair.Counters() }
	n, err := r.stream(src, total, dst)
	if err != nil {
		return nil, err
	}
	c1 := r.pair.Counters()
	ok := n == total && sha256.Sum256(dst[:n]) == want
	return []Metric{
		{"gbps", float64(n) * 8 / r.elapsed.Seconds() / 1e9},
		{"sha256_ok", boolMetric(ok)},
		{"retransmits", float64(c1.Retransmits - c0.Retransmits)},
		{"rto_timeouts", float64(c1.RTOs - c0.RTOs)},
	}, nil
}

func boolMetric(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
