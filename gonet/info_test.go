package gonet_test

import (
	"io"
	"strings"
	"testing"

	"github.com/ustack-go/ustack/transport/tcp"
)

// TestTCPConnInfo reads the Info of a gonet connection of the TCP engine
// after a transfer: the bytes acknowledged, an RTT, and a report that
// names what limits the connection.
func TestTCPConnInfo(t *testing.T) {
	for _, impl := range streamImpls {
		if impl.name != "tcp" {
			continue
		}
		a, b := streamHosts(t, impl)
		client, server := tcpPair(t, a, b, 80)
		const n = 200 << 10
		go func() {
			_, _ = client.Write(make([]byte, n))
		}()
		if _, err := io.ReadFull(server, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		in, err := server.Info()
		if err != nil {
			t.Fatal(err)
		}
		if in.State != tcp.StateEstablished || in.BytesReceived != n {
			t.Fatalf("server Info: %+v", in)
		}
		in, err = client.Info()
		if err != nil {
			t.Fatal(err)
		}
		if in.Cwnd <= 0 || in.BytesAcked > n || !strings.Contains(in.String(), "limited by ") {
			t.Fatalf("client Info:\n%s", in)
		}
		client.Close()
		if _, err := client.Info(); err == nil {
			t.Error("Info of a closed TCPConn succeeded")
		}
	}
}
