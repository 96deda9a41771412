package serve

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ustack-go/ustack/stack"
)

func TestChargen(t *testing.T) {
	stream := make([]byte, 3*chargenPeriod+100)
	if _, err := io.ReadFull(&chargenReader{}, stream); err != nil {
		t.Fatal(err)
	}
	// RFC 864: 72-character lines of the 95 printable characters, each
	// starting one character after the previous, ended by CR LF.
	lines := strings.Split(string(stream[:3*chargenPeriod]), "\r\n")
	if len(lines) != 3*95+1 || lines[len(lines)-1] != "" {
		t.Fatalf("%d lines in three periods, want %d", len(lines)-1, 3*95)
	}
	if want := ` !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_` + "`" + `abcdefg`; lines[0] != want {
		t.Errorf("line 0 = %q, want %q", lines[0], want)
	}
	if want := `~ !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_` + "`" + `abcdef`; lines[94] != want {
		t.Errorf("line 94 = %q, want %q", lines[94], want)
	}
	for i, l := range lines[:len(lines)-1] {
		if len(l) != 72 || l[0] != byte(' '+i%95) {
			t.Fatalf("line %d = %q", i, l)
		}
		for j := 1; j < len(l); j++ {
			if l[j] != ' '+(l[j-1]-' '+1)%95 {
				t.Fatalf("line %d breaks the sequence at %d: %q", i, j, l)
			}
		}
	}
	// Reads of any size give the same stream.
	got, err := io.ReadAll(io.LimitReader(iotest.OneByteReader(&chargenReader{}), int64(len(stream))))
	if err != nil || !bytes.Equal(got, stream) {
		t.Errorf("byte-at-a-time reads differ from one read (%v)", err)
	}
}

// chargenPrefix returns the first n bytes of the chargen stream.
func chargenPrefix(n int) []byte {
	b := make([]byte, n)
	io.ReadFull(&chargenReader{}, b)
	return b
}

func TestHTTPHandler(t *testing.T) {
	s := stack.New(stack.Options{})
	defer s.Close()
	srv := &Server{cfg: Config{TAP: "tap0"}, s: s, logger: slog.New(slog.DiscardHandler)}
	h := srv.httpHandler()
	do := func(method, target string, body io.Reader) *httptest.ResponseRecorder {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, target, body))
		return w
	}

	for _, n := range []int{0, 1, 72, 74, chargenPeriod + 3, 1 << 20} {
		w := do("GET", "/bytes/"+strconv.Itoa(n), nil)
		if w.Code != 200 || w.Header().Get("Content-Length") != strconv.Itoa(n) || !bytes.Equal(w.Body.Bytes(), chargenPrefix(n)) {
			t.Errorf("GET /bytes/%d = %d, Content-Length %q, %d bytes; want 200 and the first %d bytes of chargen",
				n, w.Code, w.Header().Get("Content-Length"), w.Body.Len(), n)
		}
	}
	for _, bad := range []string{"/bytes/-1", "/bytes/x", "/bytes/1e3"} {
		if w := do("GET", bad, nil); w.Code != 400 {
			t.Errorf("GET %s = %d, want 400", bad, w.Code)
		}
	}

	body := bytes.Repeat([]byte("ustack"), 100000)
	sum := sha256.Sum256(body)
	w := do("POST", "/sha256", bytes.NewReader(body))
	if w.Code != 200 || w.Body.String() != hex.EncodeToString(sum[:])+"\n" {
		t.Errorf("POST /sha256 = %d %q, want %x", w.Code, w.Body.String(), sum)
	}
	if w := do("GET", "/sha256", nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /sha256 = %d, want 405", w.Code)
	}

	w = do("GET", "/", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "ustack serving on tap0") || !strings.Contains(w.Body.String(), "Serve.HTTPRequests") {
		t.Errorf("GET / = %d:\n%s", w.Code, w.Body.String())
	}
	if w := do("GET", "/nothing", nil); w.Code != 404 {
		t.Errorf("GET /nothing = %d, want 404", w.Code)
	}
}

func TestParseArgsTCP(t *testing.T) {
	args := []string{"--tap", "tap0", "--addr", "10.0.0.2/24", "--tcp-cc", "cubic", "--sack=false", "--tcp-sndbuf", "1048576", "--tcp-rcvbuf=2097152"}
	saved := tcpSupport
	defer func() { tcpSupport = saved }()

	tcpSupport = nil
	if _, err := ParseArgs(args, io.Discard); err == nil || !strings.Contains(err.Error(), "without TCP") {
		t.Errorf("ParseArgs with TCP flags and no TCP: %v, want an error saying so", err)
	}

	tcpSupport = &tcpEngine{}
	cfg, err := ParseArgs(args, io.Discard)
	if err != nil {
		t.Fatalf("ParseArgs: %v", err)
	}
	if cfg.TCPCongestionControl != "cubic" || cfg.SACK == nil || *cfg.SACK || cfg.TCPSendBuffer != 1<<20 || cfg.TCPReceiveBuffer != 2<<20 {
		t.Errorf("ParseArgs = cc %q, sack %v, sndbuf %d, rcvbuf %d", cfg.TCPCongestionControl, cfg.SACK, cfg.TCPSendBuffer, cfg.TCPReceiveBuffer)
	}
	cfg, err = ParseArgs([]string{"--tap", "tap0", "--addr", "10.0.0.2/24", "--sack"}, io.Discard)
	if err != nil || cfg.SACK == nil || !*cfg.SACK {
		t.Errorf("--sack alone: %v, %v; want SACK true", cfg.SACK, err)
	}
	for _, bad := range [][]string{{"--sack=maybe"}, {"--tcp-sndbuf", "-1"}, {"--tcp-rcvbuf", "x"}} {
		if _, err := ParseArgs(append([]string{"--tap", "tap0", "--addr", "10.0.0.2/24"}, bad...), io.Discard); err == nil {
			t.Errorf("ParseArgs(%q) succeeded", bad)
		}
	}
}
