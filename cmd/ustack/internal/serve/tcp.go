package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Ports of the TCP services.
const (
	ChargenPort = 19 // RFC 864
	HTTPPort    = 80
)

// tcpEngine is the TCP implementation the server runs: its factory and the
// translation of the --tcp-* flags into its protocol options. tcpSupport
// is nil when ustack is built without TCP, and the TCP services are then
// not offered (tcpproto.go sets it).
type tcpEngine struct {
	factory stack.TransportProtocolFactory
	// options returns the protocol options that cfg asks for, or an
	// error naming the flag the engine cannot honour.
	options func(cfg Config) ([]tcpOption, error)
}

// tcpOption is a TCP protocol option (stack.SetTransportProtocolOption)
// and the flag that asked for it.
type tcpOption struct {
	flag string // "--tcp-cc cubic"
	opt  any
}

var tcpSupport *tcpEngine

// listenBacklog is the accept queue of each TCP service: room for bursts
// of hundreds of clients, as Linux's net.core.somaxconn (4096) gives
// package net's listeners.
const listenBacklog = 1024

// TCPEnabled reports whether this ustack runs TCP and its services.
func TCPEnabled() bool { return tcpSupport != nil }

// tcpFlagsSet reports whether the command line set any TCP option.
func (cfg *Config) tcpFlagsSet() bool {
	return cfg.TCPCongestionControl != "" || cfg.SACK != nil || cfg.TCPSendBuffer != 0 || cfg.TCPReceiveBuffer != 0
}

// startTCP sets the TCP protocol options and starts the TCP services: echo
// (RFC 862 §"TCP Based Echo Service"), discard (RFC 863), chargen (RFC 864)
// and HTTP. Each accepted connection is served by a goroutine of its own.
func (srv *Server) startTCP() error {
	if tcpSupport == nil {
		return nil
	}
	opts, err := tcpSupport.options(srv.cfg)
	if err != nil {
		return err
	}
	for _, o := range opts {
		if err := srv.s.SetTransportProtocolOption(tcpip.TCPProtocolNumber, o.opt); err != nil {
			return fmt.Errorf("%s: %w", o.flag, err)
		}
	}
	services := []struct {
		port   uint16
		name   string
		handle func(*gonet.TCPConn)
	}{
		{EchoPort, "echo", srv.tcpEcho},
		{DiscardPort, "discard", srv.tcpDiscard},
		{ChargenPort, "chargen", srv.tcpChargen},
	}
	for _, svc := range services {
		l, err := srv.listenTCP(svc.port)
		if err != nil {
			return fmt.Errorf("TCP %s: %w", svc.name, err)
		}
		srv.wg.Go(func() { srv.acceptLoop(l, svc.name, svc.handle) })
	}
	l, err := srv.listenTCP(HTTPPort)
	if err != nil {
		return fmt.Errorf("HTTP: %w", err)
	}
	srv.http = &http.Server{
		Handler:           srv.httpHandler(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(srv.logger.Handler(), slog.LevelWarn),
	}
	srv.wg.Go(func() {
		if err := srv.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srv.logger.Error("http: serve", "err", err)
		}
	})
	return nil
}

// listenTCP listens on port of every address of both families: one
// dual-stack IPv6 endpoint on [::], which accepts IPv4 connections through
// IPv4-mapped addresses (RFC 3493 §3.7), as a Linux server's AF_INET6
// socket does by default.
func (srv *Server) listenTCP(port uint16) (*gonet.TCPListener, error) {
	l, err := gonet.ListenTCPBacklog(srv.s, netip.AddrPortFrom(netip.IPv6Unspecified(), port), tcpip.IPv6ProtocolNumber, listenBacklog)
	if err != nil {
		return nil, err
	}
	srv.tcpMu.Lock()
	srv.listeners = append(srv.listeners, l)
	srv.tcpMu.Unlock()
	return l, nil
}

// acceptLoop serves each connection of l with handle, until l is closed.
func (srv *Server) acceptLoop(l *gonet.TCPListener, name string, handle func(*gonet.TCPConn)) {
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				srv.logger.Error(name+": accept", "err", err)
			}
			return
		}
		if !srv.track(c) {
			c.Close()
			return
		}
		srv.stats.TCPConnections.Inc()
		if srv.cfg.Verbose {
			srv.logger.Info(name+": connection", "from", c.RemoteAddrPort().String())
		}
		srv.wg.Go(func() {
			defer srv.untrack(c)
			handle(c)
		})
	}
}

// track records an open connection, so that Close can end it; it returns
// false if the server is closing.
func (srv *Server) track(c *gonet.TCPConn) bool {
	srv.tcpMu.Lock()
	defer srv.tcpMu.Unlock()
	if srv.tcpClosing {
		return false
	}
	if srv.tcpConns == nil {
		srv.tcpConns = map[*gonet.TCPConn]struct{}{}
	}
	srv.tcpConns[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (srv *Server) untrack(c *gonet.TCPConn) {
	c.Close()
	srv.tcpMu.Lock()
	delete(srv.tcpConns, c)
	srv.tcpMu.Unlock()
}

// closeTCP stops the TCP services: the listeners, the HTTP server and
// every open connection, so that their goroutines end.
func (srv *Server) closeTCP() {
	srv.tcpMu.Lock()
	srv.tcpClosing = true
	ls := srv.listeners
	conns := make([]*gonet.TCPConn, 0, len(srv.tcpConns))
	for c := range srv.tcpConns {
		conns = append(conns, c)
	}
	srv.tcpMu.Unlock()
	if srv.http != nil {
		srv.http.Close()
	}
	for _, l := range ls {
		l.Close()
	}
	for _, c := range conns {
		c.Close()
	}
}

// tcpEcho sends back what it reads (RFC 862: "Once a connection is
// established any data received is sent back"), until the client closes
// its side; then it closes.
func (srv *Server) tcpEcho(c *gonet.TCPConn) {
	n, err := io.Copy(c, c)
	srv.stats.TCPEchoBytes.Add(uint64(n))
	if err != nil {
		srv.connError("echo", c, err)
	}
}

// tcpDiscard reads and throws away until the client closes (RFC 863).
func (srv *Server) tcpDiscard(c *gonet.TCPConn) {
	n, err := io.Copy(io.Discard, c)
	srv.stats.TCPDiscardBytes.Add(uint64(n))
	if err != nil {
		srv.connError("discard", c, err)
	}
}

// tcpChargen sends the character generator stream until the client closes
// the connection (RFC 864: "Once a connection is established the server
// sends a stream of data... any data received is thrown away"); the
// client's data is read and discarded.
func (srv *Server) tcpChargen(c *gonet.TCPConn) {
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(io.Discard, c) })
	n, err := io.Copy(c, &chargenReader{})
	srv.stats.ChargenBytes.Add(uint64(n))
	if err != nil && !errors.Is(err, net.ErrClosed) {
		if srv.cfg.Verbose {
			srv.logger.Info("chargen: done", "from", c.RemoteAddrPort().String(), "bytes", n, "err", err)
		}
	}
	c.Close()
	wg.Wait()
}

// connError logs an error of a connection other than its closing.
func (srv *Server) connError(name string, c *gonet.TCPConn, err error) {
	if errors.Is(err, net.ErrClosed) {
		return
	}
	srv.logger.Warn(name, "from", c.RemoteAddrPort().String(), "err", err)
}

// RFC 864: the stream is lines of 72 characters of the 95 printable ASCII
// characters (32 to 126), each line starting one character further than the
// previous one, each ended by CR LF.
const (
	chargenFirst   = ' '
	chargenCount   = 95
	chargenLineLen = 72
	// chargenPeriod is the length of the stream before it repeats: 95
	// lines of 72 characters and CR LF.
	chargenPeriod = chargenCount * (chargenLineLen + 2)
)

// chargenCycle is one period of the chargen stream.
var chargenCycle = func() []byte {
	b := make([]byte, 0, chargenPeriod)
	for line := range chargenCount {
		for i := range chargenLineLen {
			b = append(b, byte(chargenFirst+(line+i)%chargenCount))
		}
		b = append(b, '\r', '\n')
	}
	return b
}()

// chargenReader reads the chargen stream from its start, without end.
type chargenReader struct {
	off int // in chargenCycle
}

// Read implements io.Reader: it fills p and never fails.
func (r *chargenReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], chargenCycle[r.off:])
		n += k
		r.off = (r.off + k) % chargenPeriod
	}
	return n, nil
}

// httpHandler returns the handler of the HTTP service:
//
//	GET /bytes/N   the first N bytes of the chargen stream
//	POST /sha256   the hex SHA-256 of the request body
//	GET /conns     the TCP endpoints with their tcp.Info (?json=1: JSON)
//	GET /          a status page with the stack's counters
func (srv *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		srv.stats.HTTPRequests.Inc()
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "want /bytes/N with N a number of bytes", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		if r.Method == http.MethodHead {
			return
		}
		written, _ := io.CopyN(w, &chargenReader{}, n)
		srv.stats.HTTPBytesSent.Add(uint64(written))
	})
	mux.HandleFunc("POST /sha256", func(w http.ResponseWriter, r *http.Request) {
		srv.stats.HTTPRequests.Inc()
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		srv.stats.HTTPBytesReceived.Add(uint64(n))
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s\n", hex.EncodeToString(h.Sum(nil)))
	})
	mux.HandleFunc("GET /conns", srv.handleConns)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		srv.stats.HTTPRequests.Inc()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "ustack serving on %s (%s)\n\n", srv.cfg.TAP, srv.mac)
		fmt.Fprintf(w, "GET /bytes/N   the first N bytes of the chargen stream (RFC 864)\n")
		fmt.Fprintf(w, "POST /sha256   the SHA-256 of the request body\n")
		fmt.Fprintf(w, "GET /conns     the TCP connections and what limits each (?json=1: JSON)\n\n")
		io.WriteString(w, srv.Snapshot().String())
	})
	return mux
}
