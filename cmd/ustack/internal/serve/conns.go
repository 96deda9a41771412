package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// connEntry is one TCP endpoint of GET /conns?json=1.
type connEntry struct {
	Local  string   `json:"local"`
	Remote string   `json:"remote,omitempty"`
	State  string   `json:"state"`
	Limit  string   `json:"limit"`
	Why    string   `json:"why"`
	Info   tcp.Info `json:"info"`
}

// handleConns serves GET /conns: every TCP endpoint of the stack (its
// listeners and connections, this request's own included) with its
// 4-tuple and its tcp.Info report, as text, or as a JSON array with
// ?json=1.
func (srv *Server) handleConns(w http.ResponseWriter, r *http.Request) {
	srv.stats.HTTPRequests.Inc()
	conns := tcp.Connections(srv.s)
	if v := r.URL.Query().Get("json"); v != "" && v != "0" {
		entries := make([]connEntry, 0, len(conns))
		for _, c := range conns {
			e := connEntry{
				Local: netip.AddrPortFrom(unspecifiedIfZero(c), c.ID.LocalPort).String(),
				State: c.Info.State.String(),
				Limit: c.Info.Limit.String(),
				Why:   c.Info.Why(),
				Info:  c.Info,
			}
			if c.ID.RemoteAddress.IsValid() {
				e.Remote = netip.AddrPortFrom(c.ID.RemoteAddress, c.ID.RemotePort).String()
			}
			entries = append(entries, e)
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(entries)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var b strings.Builder
	fmt.Fprintf(&b, "%d TCP endpoints\n", len(conns))
	for _, c := range conns {
		local := netip.AddrPortFrom(unspecifiedIfZero(c), c.ID.LocalPort)
		if c.Info.State == tcp.StateListen {
			fmt.Fprintf(&b, "\ntcp %s LISTEN\n", local)
			continue
		}
		remote := netip.AddrPortFrom(c.ID.RemoteAddress, c.ID.RemotePort)
		fmt.Fprintf(&b, "\ntcp %s <-> %s\n", local, remote)
		for line := range strings.Lines(c.Info.String()) {
			b.WriteString("  ")
			b.WriteString(line)
		}
	}
	_, _ = w.Write([]byte(b.String()))
}

// unspecifiedIfZero returns c's local address, or the unspecified
// address of its family (0.0.0.0, ::) for a listener bound to every
// address.
func unspecifiedIfZero(c tcp.Conn) netip.Addr {
	switch {
	case c.ID.LocalAddress.IsValid():
		return c.ID.LocalAddress
	case c.NetProto == tcpip.IPv6ProtocolNumber:
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}
