package serve

import (
	"io"
	"strings"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

func TestTCPOptions(t *testing.T) {
	base := []string{"--tap", "tap0", "--addr", "10.0.0.2/24"}
	cfg, err := ParseArgs(append(base, "--tcp-cc", "newreno", "--sack=false", "--tcp-sndbuf", "1048576", "--tcp-rcvbuf", "4194304"), io.Discard)
	if err != nil {
		t.Fatalf("ParseArgs: %v", err)
	}
	opts, err := tcpOptions(cfg)
	if err != nil {
		t.Fatalf("tcpOptions: %v", err)
	}
	want := []any{tcpip.CongestionControlOption("newreno"), tcp.SACKEnabledOption(false), tcpip.SendBufferSizeOption(1 << 20), tcpip.ReceiveBufferSizeOption(4 << 20)}
	if len(opts) != len(want)+1 || opts[0].opt != tcp.SYNQueueSizeOption(listenBacklog) {
		t.Fatalf("tcpOptions = %v, want the SYN queue size and %v", opts, want)
	}
	for i, o := range opts[1:] {
		if o.opt != want[i] {
			t.Errorf("option %d = %+v, want the protocol option %v", i, o, want[i])
		}
	}
	for _, bad := range [][]string{{"--tcp-cc", "nosuchcc"}} {
		_, err := ParseArgs(append(base, bad...), io.Discard)
		if flag, _, _ := strings.Cut(bad[0], "="); err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("ParseArgs(%q): %v, want an error naming the flag", bad, err)
		}
	}
}
