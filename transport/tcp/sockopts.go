package tcp

import (
	"time"

	"github.com/ustack-go/ustack/tcpip"
)

// Quick-ACK mode (RFC 1122 §4.2.3.2 and RFC 5681 §4.2 let a receiver
// delay ACKs, within 500 ms and for at most every second full-size
// segment; acknowledging at once is always allowed): while quickAcks > 0 every data segment is acknowledged at once
// and counts one down; then delayed ACKs (every second segment, 40 ms)
// resume.
const (
	// quickAckStart is the quick-ACK budget of a new connection, as
	// Linux's TCP_MAX_QUICKACKS.
	quickAckStart = 16
	// quickAckOption is the budget QuickAckOption(true) gives. Like
	// Linux's TCP_QUICKACK, the option is not sticky: it enters
	// quick-ACK mode, which ends by itself once that many segments were
	// acknowledged at once (or at QuickAckOption(false)), and GetSockOpt
	// reports whether the mode is still on. The budget is larger than
	// Linux's 16 because Linux also leaves its interactive ("pingpong")
	// delayed-ACK mode, and then acknowledges any run over one MSS at
	// once, while ustack has a single mode: 64 segments keeps a request
	// and its response exchanges quick without doubling the ACK rate of
	// a bulk transfer forever when the user forgets the option.
	quickAckOption = 64
)

// InfoOption is the GetSockOpt argument that reads the connection's Info
// (TCP_INFO).
type InfoOption Info

// SetSockOpt implements tcpip.Endpoint.
func (e *endpoint) SetSockOpt(opt any) error {
	e.lock()
	defer e.unlock()
	switch v := opt.(type) {
	case tcpip.ReuseAddressOption:
		e.reuseAddr = bool(v)
	case tcpip.ReusePortOption:
		e.reusePort = bool(v)
	case tcpip.BindToDeviceOption:
		if v != 0 && !e.s.HasNIC(tcpip.NICID(v)) {
			return tcpip.ErrUnknownDevice
		}
		if e.bound || e.registered {
			return tcpip.ErrInvalidEndpointState
		}
		e.writeOptsLocked().bindToDevice = tcpip.NICID(v)
	case tcpip.KeepAliveOption:
		e.keepalive = bool(v)
		e.keepaliveAt = zeroTime
		e.armLocked()
	case tcpip.KeepaliveIdleOption:
		if d := time.Duration(v); d < time.Second || d > 32767*time.Second {
			return tcpip.ErrInvalidOptionValue
		}
		e.writeOptsLocked().kaIdle = time.Duration(v)
		e.keepaliveAt = zeroTime
		e.armLocked()
	case tcpip.KeepaliveIntervalOption:
		if d := time.Duration(v); d < time.Second || d > 32767*time.Second {
			return tcpip.ErrInvalidOptionValue
		}
		e.writeOptsLocked().kaIntvl = time.Duration(v)
	case tcpip.KeepaliveCountOption:
		if v < 1 || v > 127 {
			return tcpip.ErrInvalidOptionValue
		}
		e.writeOptsLocked().kaCount = int(v)
	case tcpip.UserTimeoutOption:
		if v < 0 {
			return tcpip.ErrInvalidOptionValue
		}
		e.writeOptsLocked().userTimeout = time.Duration(v)
	case tcpip.SendBufferSizeOption:
		// As Linux's SOCK_SNDBUF_LOCK: a size the user chose is kept
		// (no send autotuning, autotune.go).
		e.sndBufSize = min(max(int(v), MinBufferSize), MaxBufferSize)
		e.sndBufUser = true
		e.notifyLocked(tcpip.EventOut)
	case tcpip.ReceiveBufferSizeOption:
		// As Linux's SOCK_RCVBUF_LOCK: no receive autotuning. Set
		// before Connect or Listen, it also bounds the window scale
		// (autotune.go rcvBufCeilLocked).
		e.rcvBufSize = min(max(int(v), MinBufferSize), MaxBufferSize)
		e.rcvBufUser = true
	case tcpip.DelayOption:
		e.delay = bool(v)
		if !e.delay {
			e.sendDataLocked()
		}
	case tcpip.CorkOption:
		e.cork = bool(v)
		if !e.cork {
			e.sendDataLocked()
		}
	case tcpip.QuickAckOption:
		// One-shot, as Linux's TCP_QUICKACK (see quickAckOption).
		if !v {
			e.quickAcks = 0
			break
		}
		e.quickAcks = max(e.quickAcks, quickAckOption)
		if e.ackPending > 0 && e.state.synchronized() {
			e.sendACKLocked()
		}
	case tcpip.MaxSegOption:
		// Linux: TCP_MAXSEG between 88 and 65535 (0 for the default).
		if v != 0 && (v < 88 || v > 65535) {
			return tcpip.ErrInvalidOptionValue
		}
		e.writeOptsLocked().maxSeg = int(v)
	case tcpip.CongestionControlOption:
		f, ok := lookupCC(string(v))
		if !ok {
			return tcpip.ErrInvalidOptionValue
		}
		e.writeOptsLocked().ccName = string(v)
		if e.cc != nil {
			e.cc = f(e.sndMSS)
		}
	case tcpip.LingerOption:
		e.writeOptsLocked().linger = v
	case tcpip.TTLOption:
		e.ttl = uint8(v)
	case tcpip.TOSOption:
		e.tos = uint8(v)
	case ECNOption:
		return e.setECNOptionLocked(v)
	case tcpip.V6OnlyOption:
		return e.setV6OnlyLocked(bool(v))
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}

// GetSockOpt implements tcpip.Endpoint.
func (e *endpoint) GetSockOpt(opt any) error {
	e.lock()
	defer e.unlock()
	switch v := opt.(type) {
	case *tcpip.ReuseAddressOption:
		*v = tcpip.ReuseAddressOption(e.reuseAddr)
	case *tcpip.ReusePortOption:
		*v = tcpip.ReusePortOption(e.reusePort)
	case *tcpip.BindToDeviceOption:
		*v = tcpip.BindToDeviceOption(e.bindToDevice)
	case *tcpip.KeepAliveOption:
		*v = tcpip.KeepAliveOption(e.keepalive)
	case *tcpip.KeepaliveIdleOption:
		*v = tcpip.KeepaliveIdleOption(e.kaIdle)
	case *tcpip.KeepaliveIntervalOption:
		*v = tcpip.KeepaliveIntervalOption(e.kaIntvl)
	case *tcpip.KeepaliveCountOption:
		*v = tcpip.KeepaliveCountOption(e.kaCount)
	case *tcpip.UserTimeoutOption:
		*v = tcpip.UserTimeoutOption(e.userTimeout)
	case *tcpip.SendBufferSizeOption:
		*v = tcpip.SendBufferSizeOption(e.sndBufSize)
	case *tcpip.ReceiveBufferSizeOption:
		*v = tcpip.ReceiveBufferSizeOption(e.rcvBufSize)
	case *tcpip.ReceiveQueueSizeOption:
		*v = tcpip.ReceiveQueueSizeOption(e.rcvBuf.Len())
	case *tcpip.SendQueueSizeOption:
		*v = tcpip.SendQueueSizeOption(e.sndBuf.Len())
	case *tcpip.DelayOption:
		*v = tcpip.DelayOption(e.delay)
	case *tcpip.CorkOption:
		*v = tcpip.CorkOption(e.cork)
	case *tcpip.QuickAckOption:
		*v = tcpip.QuickAckOption(e.quickAcks > 0)
	case *tcpip.MaxSegOption:
		if e.sndMSS > 0 {
			*v = tcpip.MaxSegOption(e.sndMSS)
		} else if e.maxSeg > 0 {
			*v = tcpip.MaxSegOption(e.maxSeg)
		} else {
			*v = defaultMSSv4
		}
	case *tcpip.CongestionControlOption:
		*v = tcpip.CongestionControlOption(e.ccName)
	case *tcpip.LingerOption:
		*v = e.linger
	case *tcpip.TTLOption:
		*v = tcpip.TTLOption(e.ttl)
	case *tcpip.TOSOption:
		*v = tcpip.TOSOption(e.tos)
	case *ECNOption:
		*v = e.ecn.mode
	case *tcpip.V6OnlyOption:
		if e.netProto != tcpip.IPv6ProtocolNumber {
			return tcpip.ErrUnknownProtocolOption
		}
		*v = tcpip.V6OnlyOption(e.v6only)
	case *InfoOption:
		*v = InfoOption(e.infoLocked())
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}
