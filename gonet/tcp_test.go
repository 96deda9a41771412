package gonet_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/stack"
)

// tcpListen listens on port of s until the test ends.
func tcpListen(t testing.TB, s *stack.Stack, port uint16) *gonet.TCPListener {
	t.Helper()
	l, err := gonet.ListenTCP(s, netip.AddrPortFrom(netip.IPv4Unspecified(), port), v4)
	if err != nil {
		t.Fatalf("ListenTCP(:%d): %v", port, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// tcpDial connects from s to raddr; the connection is closed when the test
// ends.
func tcpDial(t testing.TB, s *stack.Stack, raddr netip.AddrPort) *gonet.TCPConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, s, netip.AddrPort{}, raddr, v4)
	if err != nil {
		t.Fatalf("DialTCP(%v): %v", raddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tcpPair returns a connection from a to b and the server side of it,
// accepted on port of b.
func tcpPair(t testing.TB, a, b *stack.Stack, port uint16) (client, server *gonet.TCPConn) {
	t.Helper()
	l := tcpListen(t, b, port)
	client = tcpDial(t, a, netip.AddrPortFrom(addrB, port))
	server, err := l.AcceptTCP()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// serveTCP runs handle on every connection accepted by l, each in its own
// goroutine, until the test ends; handle's connection is closed after it,
// or when the test ends, so that a handler still blocked returns.
func serveTCP(t *testing.T, l *gonet.TCPListener, handle func(c *gonet.TCPConn)) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []*gonet.TCPConn
	)
	wg.Go(func() {
		for {
			c, err := l.AcceptTCP()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// echoTCP copies what it reads back until the end of the stream, then
// closes its side.
func echoTCP(c *gonet.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

func checkTCPOpError(t *testing.T, err error, op string) *net.OpError {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not a *net.OpError", err, err)
	}
	if oe.Op != op || oe.Net != "tcp" {
		t.Errorf("OpError Op, Net = %q, %q; want %q, \"tcp\"", oe.Op, oe.Net, op)
	}
	return oe
}

func TestTCPEcho(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		l := tcpListen(t, b, 7)
		serveTCP(t, l, echoTCP)
		if got, want := l.Addr().String(), "0.0.0.0:7"; got != want {
			t.Errorf("listener Addr = %s, want %s", got, want)
		}
		if _, ok := l.Addr().(*net.TCPAddr); !ok {
			t.Errorf("listener Addr is a %T, want *net.TCPAddr", l.Addr())
		}

		c := tcpDial(t, a, netip.AddrPortFrom(addrB, 7))
		la, ok := c.LocalAddr().(*net.TCPAddr)
		if !ok || la.AddrPort().Addr() != addrA || la.Port == 0 {
			t.Errorf("LocalAddr = %v (%T), want %v:ephemeral", c.LocalAddr(), c.LocalAddr(), addrA)
		}
		ra, ok := c.RemoteAddr().(*net.TCPAddr)
		if !ok || ra.AddrPort() != netip.AddrPortFrom(addrB, 7) {
			t.Errorf("RemoteAddr = %v (%T), want %v:7", c.RemoteAddr(), c.RemoteAddr(), addrB)
		}

		for _, msg := range []string{"hello", "ustack", strings.Repeat("x", 3000)} {
			if n, err := c.Write([]byte(msg)); n != len(msg) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("ReadFull: %v", err)
			}
			if string(got) != msg {
				t.Fatalf("echo = %.20q…, want %.20q…", got, msg)
			}
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatalf("CloseWrite: %v", err)
		}
		if n, err := c.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Fatalf("Read after the echo's end = %d, %v; want 0, io.EOF", n, err)
		}
	})
}

func TestTCPServerAddresses(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		client, server := tcpPair(t, a, b, 80)
		if server.LocalAddrPort() != netip.AddrPortFrom(addrB, 80) {
			t.Errorf("server LocalAddr = %v, want %v:80", server.LocalAddr(), addrB)
		}
		if server.RemoteAddrPort() != client.LocalAddrPort() {
			t.Errorf("server RemoteAddr = %v, want the client's %v", server.RemoteAddr(), client.LocalAddr())
		}
	})
}

func TestTCPLargeTransfer(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		// 8 MiB each way, one direction after the other: Write loops
		// until the endpoint has taken the whole buffer, and the
		// reader gets every byte, in order, then the end of the
		// stream.
		const size = 8 << 20
		up := make([]byte, size)
		rand.Read(up)
		down := make([]byte, size)
		rand.Read(down)
		client, server := tcpPair(t, a, b, 5000)
		for _, dir := range []struct {
			name     string
			from, to *gonet.TCPConn
			data     []byte
		}{{"up", client, server, up}, {"down", server, client, down}} {
			written := make(chan result, 1)
			go func() {
				n, err := dir.from.Write(dir.data)
				if err == nil {
					err = dir.from.CloseWrite()
				}
				written <- result{n, err}
			}()
			got, err := io.ReadAll(dir.to)
			if err != nil {
				t.Fatalf("%s: ReadAll: %v", dir.name, err)
			}
			if r := <-written; r.n != size || r.err != nil {
				t.Fatalf("%s: Write = %d, %v; want %d, nil", dir.name, r.n, r.err, size)
			}
			if !bytes.Equal(got, dir.data) {
				t.Fatalf("%s: received %d bytes, differing from the %d sent", dir.name, len(got), size)
			}
		}
	})
}

func TestTCPBulkEcho(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		// Both directions at once, with both send buffers full: the
		// client writes 4 MiB in one call while reading the echo.
		const size = 4 << 20
		data := make([]byte, size)
		rand.Read(data)
		l := tcpListen(t, b, 7)
		serveTCP(t, l, echoTCP)
		c := tcpDial(t, a, netip.AddrPortFrom(addrB, 7))
		c.SetDeadline(time.Now().Add(time.Minute))
		written := make(chan result, 1)
		go func() {
			n, err := c.Write(data)
			if err == nil {
				err = c.CloseWrite()
			}
			written <- result{n, err}
		}()
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		if r := <-written; r.n != size || r.err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", r.n, r.err, size)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("echoed %d bytes, differing from the %d sent", len(got), size)
		}
	})
}

func TestTCPHalfClose(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		// Client first: the server reads the end of the stream and
		// still answers.
		client, server := tcpPair(t, a, b, 1000)
		client.Write([]byte("request"))
		if err := client.CloseWrite(); err != nil {
			t.Fatalf("CloseWrite: %v", err)
		}
		got, err := io.ReadAll(server)
		if err != nil || string(got) != "request" {
			t.Fatalf("server ReadAll = %q, %v; want \"request\", nil", got, err)
		}
		if _, err := server.Write([]byte("response")); err != nil {
			t.Fatalf("server Write after the client's CloseWrite: %v", err)
		}
		server.CloseWrite()
		got, err = io.ReadAll(client)
		if err != nil || string(got) != "response" {
			t.Fatalf("client ReadAll = %q, %v; want \"response\", nil", got, err)
		}
		if _, err := client.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("Write after CloseWrite: %v, want EPIPE", err)
		}

		// Server first.
		client, server = tcpPair(t, a, b, 1001)
		server.Write([]byte("banner"))
		server.CloseWrite()
		got, err = io.ReadAll(client)
		if err != nil || string(got) != "banner" {
			t.Fatalf("client ReadAll = %q, %v; want \"banner\", nil", got, err)
		}
		client.Write([]byte("late"))
		client.CloseWrite()
		got, err = io.ReadAll(server)
		if err != nil || string(got) != "late" {
			t.Fatalf("server ReadAll = %q, %v; want \"late\", nil", got, err)
		}
	})
}

func TestTCPCloseRead(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		client, server := tcpPair(t, a, b, 1000)
		ch := readAsync(client, make([]byte, 10))
		notYet(t, ch, 20*time.Millisecond)
		if err := client.CloseRead(); err != nil {
			t.Fatalf("CloseRead: %v", err)
		}
		if r := waitResult(t, ch, quick); r.n != 0 || r.err != io.EOF {
			t.Fatalf("blocked Read after CloseRead = %d, %v; want 0, io.EOF", r.n, r.err)
		}
		// Writing goes on.
		client.Write([]byte("still"))
		buf := make([]byte, 5)
		if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "still" {
			t.Fatalf("server read %q, %v after the client's CloseRead", buf, err)
		}
	})
}

func TestTCPReadDeadline(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		client, server := tcpPair(t, a, b, 1000)
		// A deadline in the future fails a blocked Read when it passes.
		client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		start := time.Now()
		_, err := client.Read(make([]byte, 10))
		checkTCPOpError(t, err, "read")
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read: %v, want os.ErrDeadlineExceeded", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("Read: %v is not a timeout", err)
		}
		if d := time.Since(start); d < 40*time.Millisecond {
			t.Errorf("Read timed out after %v, before its deadline", d)
		}

		// A past deadline fails at once, even with data waiting.
		server.Write([]byte("data"))
		time.Sleep(20 * time.Millisecond)
		client.SetReadDeadline(time.Now().Add(-time.Second))
		if _, err := client.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read with a past deadline: %v", err)
		}

		// Cleared, the data is there.
		client.SetReadDeadline(time.Time{})
		buf := make([]byte, 4)
		if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "data" {
			t.Fatalf("Read after clearing the deadline = %q, %v", buf, err)
		}

		// A deadline extended while a Read waits keeps it waiting.
		client.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		ch := readAsync(client, make([]byte, 10))
		client.SetReadDeadline(time.Now().Add(time.Hour))
		notYet(t, ch, 80*time.Millisecond)
		server.Write([]byte("x"))
		if r := waitResult(t, ch, quick); r.n != 1 || r.err != nil {
			t.Fatalf("Read after extending the deadline = %d, %v", r.n, r.err)
		}
	})
}

func TestTCPWriteDeadline(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		// The server never reads: the windows fill and Write blocks
		// until its deadline.
		client, _ := tcpPair(t, a, b, 1000)
		big := make([]byte, 64<<20)
		client.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := client.Write(big)
		checkTCPOpError(t, err, "write")
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write = %d, %v; want a timeout", n, err)
		}
		if n <= 0 || n >= len(big) {
			t.Errorf("Write took %d bytes before timing out, want part of %d", n, len(big))
		}
	})
}

func TestTCPCloseUnblocks(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		client, _ := tcpPair(t, a, b, 1000)
		rd := readAsync(client, make([]byte, 10))
		wr := make(chan result, 1)
		go func() {
			n, err := client.Write(make([]byte, 64<<20))
			wr <- result{n, err}
		}()
		notYet(t, rd, 20*time.Millisecond)
		notYet(t, wr, 0)
		if err := client.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for _, r := range []result{waitResult(t, rd, quick), waitResult(t, wr, quick)} {
			if !errors.Is(r.err, net.ErrClosed) {
				t.Errorf("blocked call after Close: %v, want net.ErrClosed", r.err)
			}
		}
		if _, err := client.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close: %v, want net.ErrClosed", err)
		}
		if err := client.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second Close: %v, want net.ErrClosed", err)
		}

		l := tcpListen(t, b, 2000)
		acc := make(chan error, 1)
		go func() {
			_, err := l.Accept()
			acc <- err
		}()
		time.Sleep(20 * time.Millisecond)
		l.Close()
		select {
		case err := <-acc:
			checkTCPOpError(t, err, "accept")
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
			}
		case <-time.After(quick):
			t.Fatal("Accept still blocked after the listener's Close")
		}
	})
}

func TestTCPAcceptDeadline(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		l := tcpListen(t, b, 2000)
		l.SetDeadline(time.Now().Add(30 * time.Millisecond))
		if _, err := l.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Accept: %v, want a timeout", err)
		}
	})
}

func TestTCPPeerReset(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		// RFC 2525 §2.17: closing with unread data resets the
		// connection; the peer's blocked Read sees ECONNRESET.
		client, server := tcpPair(t, a, b, 1000)
		rd := readAsync(client, make([]byte, 10))
		client.Write([]byte("unread"))
		time.Sleep(50 * time.Millisecond)
		server.Close()
		r := waitResult(t, rd, quick)
		if !errors.Is(r.err, syscall.ECONNRESET) {
			t.Fatalf("Read after the peer's reset = %d, %v; want ECONNRESET", r.n, r.err)
		}
	})
}

func TestTCPDialRefused(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		start := time.Now()
		c, err := gonet.DialTCP(a, netip.AddrPortFrom(addrB, 9999))
		if err == nil {
			c.Close()
			t.Fatal("DialTCP to a closed port succeeded")
		}
		oe := checkTCPOpError(t, err, "dial")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("DialTCP: %v, want ECONNREFUSED", err)
		}
		if oe.Addr == nil || oe.Addr.String() != "192.0.2.2:9999" {
			t.Errorf("OpError Addr = %v, want 192.0.2.2:9999", oe.Addr)
		}
		if d := time.Since(start); d > quick {
			t.Errorf("refusal took %v", d)
		}
	})
}

func TestTCPDialContext(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, _ *stack.Stack) {
		// Nobody answers at addrAbsent: the context ends the attempt.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := gonet.DialContextTCP(ctx, a, netip.AddrPort{}, netip.AddrPortFrom(addrAbsent, 80), v4)
		checkTCPOpError(t, err, "dial")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("DialContextTCP: %v, want context.DeadlineExceeded", err)
		}

		ctx, cancel = context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := gonet.DialContextTCP(ctx, a, netip.AddrPort{}, netip.AddrPortFrom(addrAbsent, 80), v4)
			done <- err
		}()
		time.Sleep(30 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("DialContextTCP: %v, want context.Canceled", err)
			}
		case <-time.After(quick):
			t.Fatal("DialContextTCP still blocked after cancel")
		}

		// Already cancelled: fails before sending anything.
		if _, err := gonet.DialContextTCP(ctx, a, netip.AddrPort{}, netip.AddrPortFrom(addrB, 80), v4); !errors.Is(err, context.Canceled) {
			t.Fatalf("DialContextTCP with a cancelled context: %v", err)
		}
	})
}

func TestTCPListenErrors(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, _ *stack.Stack) {
		tcpListen(t, a, 80)
		_, err := gonet.ListenTCP(a, netip.AddrPortFrom(netip.IPv4Unspecified(), 80), v4)
		checkTCPOpError(t, err, "listen")
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("second ListenTCP on :80: %v, want EADDRINUSE", err)
		}
		l, err := gonet.ListenTCP(a, netip.AddrPortFrom(addrA, 0), v4)
		if err != nil {
			t.Fatalf("ListenTCP on an ephemeral port: %v", err)
		}
		defer l.Close()
		if l.AddrPort().Port() == 0 || l.AddrPort().Addr() != addrA {
			t.Errorf("ephemeral listener Addr = %v", l.Addr())
		}
	})
}

// httpClient returns a client of package net/http whose connections are
// made by s.
func httpClient(s *stack.Stack) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				ap, err := netip.ParseAddrPort(addr)
				if err != nil {
					return nil, err
				}
				return gonet.DialContextTCP(ctx, s, netip.AddrPort{}, ap, 0)
			},
			MaxIdleConnsPerHost: 4,
		},
		Timeout: 30 * time.Second,
	}
}

func TestTCPHTTP(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s", r.RemoteAddr)
		})
		mux.HandleFunc("POST /sha256", func(w http.ResponseWriter, r *http.Request) {
			h := sha256.New()
			io.Copy(h, r.Body)
			io.WriteString(w, hex.EncodeToString(h.Sum(nil)))
		})
		srv := &http.Server{Handler: mux}
		l := tcpListen(t, b, 80)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }()
		defer func() {
			srv.Close()
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		}()

		client := httpClient(a)
		defer client.CloseIdleConnections()
		resp, err := client.Get("http://192.0.2.2/hello")
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(string(body), "hello 192.0.2.1:") {
			t.Fatalf("GET /hello = %d %q, %v", resp.StatusCode, body, err)
		}

		data := make([]byte, 3<<20)
		rand.Read(data)
		sum := sha256.Sum256(data)
		for range 3 {
			resp, err = client.Post("http://192.0.2.2/sha256", "application/octet-stream", bytes.NewReader(data))
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != hex.EncodeToString(sum[:]) {
				t.Fatalf("POST /sha256 = %q, %v; want %x", body, err, sum)
			}
		}
	})
}

// selfSigned returns a certificate for name, valid for an hour, and the
// pool that trusts it.
func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestTCPTLS(t *testing.T) {
	forEachStream(t, func(t *testing.T, a, b *stack.Stack) {
		cert, pool := selfSigned(t, "ustack.test")
		l := tls.NewListener(tcpListen(t, b, 443), &tls.Config{Certificates: []tls.Certificate{cert}})
		var wg sync.WaitGroup
		wg.Go(func() {
			c, err := l.Accept()
			if err != nil {
				t.Errorf("Accept: %v", err)
				return
			}
			defer c.Close()
			io.Copy(c, c)
			c.(*tls.Conn).CloseWrite()
		})
		defer wg.Wait()

		raw := tcpDial(t, a, netip.AddrPortFrom(addrB, 443))
		c := tls.Client(raw, &tls.Config{ServerName: "ustack.test", RootCAs: pool})
		defer c.Close()
		if err := c.Handshake(); err != nil {
			t.Fatalf("Handshake: %v", err)
		}
		data := make([]byte, 1<<20)
		rand.Read(data)
		go func() {
			c.Write(data)
			c.CloseWrite()
		}()
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("TLS echo: %d bytes, %v; want the %d sent", len(got), err, len(data))
		}
	})
}
