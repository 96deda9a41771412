package tcpip

import (
	"errors"
	"syscall"
)

// Error is one of ustack's sentinel errors. Each carries the syscall.Errno a
// socket API would return for it, so that
//
//	errors.Is(err, tcpip.ErrConnectionRefused) // the ustack sentinel
//	errors.Is(err, syscall.ECONNREFUSED)       // the errno it maps to
//
// are both true for a refused connection, through any wrapping (including
// the *net.OpError of the gonet adapters). Compare Errors with errors.Is, not
// by their text.
type Error struct {
	msg   string
	errno syscall.Errno
}

func newError(msg string, errno syscall.Errno) *Error { return &Error{msg: msg, errno: errno} }

// Error implements error.
func (e *Error) Error() string { return e.msg }

// Errno returns the errno a socket API would return for e.
func (e *Error) Errno() syscall.Errno { return e.errno }

// Is reports whether target is e's errno, so errors.Is matches both the
// sentinel itself and its syscall.Errno.
func (e *Error) Is(target error) bool {
	errno, ok := target.(syscall.Errno)
	return ok && errno == e.errno
}

// Timeout reports whether e is a timeout (net.Error).
func (e *Error) Timeout() bool { return e.errno.Timeout() }

// Temporary reports whether retrying may succeed (the old net.Error method).
func (e *Error) Temporary() bool { return e.errno.Temporary() }

// ErrnoOf returns the errno for err: the errno of a wrapped *Error or the
// wrapped syscall.Errno itself, 0 for nil, and EIO for anything else.
func ErrnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.errno
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return syscall.EIO
}

// The sentinel errors. Grouped by where they arise; each maps to the errno
// Linux returns in the same situation.
var (
	// Configuration of the stack, its NICs and addresses.
	ErrUnknownProtocol       = newError("unknown protocol", syscall.EINVAL)
	ErrUnknownNICID          = newError("unknown NIC", syscall.EINVAL)
	ErrUnknownDevice         = newError("unknown device", syscall.ENODEV)
	ErrDuplicateNICID        = newError("duplicate NIC ID", syscall.EEXIST)
	ErrDuplicateAddress      = newError("duplicate address", syscall.EEXIST)
	ErrAddressNotFound       = newError("address not found", syscall.EADDRNOTAVAIL)
	ErrBadLocalAddress       = newError("bad local address", syscall.EADDRNOTAVAIL)
	ErrInvalidArgument       = newError("invalid argument", syscall.EINVAL)
	ErrInvalidOptionValue    = newError("invalid option value", syscall.EINVAL)
	ErrUnknownProtocolOption = newError("unknown option for protocol", syscall.ENOPROTOOPT)
	ErrNotSupported          = newError("operation not supported", syscall.EOPNOTSUPP)
	ErrNotPermitted          = newError("operation not permitted", syscall.EPERM)
	ErrAddressFamily         = newError("address family not supported", syscall.EAFNOSUPPORT)
	ErrStackClosed           = newError("stack closed", syscall.ESHUTDOWN)

	// Routing and neighbours.
	ErrNoRoute            = newError("no route to host", syscall.EHOSTUNREACH)
	ErrNetworkUnreachable = newError("network is unreachable", syscall.ENETUNREACH)
	ErrHostUnreachable    = newError("host is unreachable", syscall.EHOSTUNREACH)
	ErrHostDown           = newError("host is down", syscall.EHOSTDOWN)
	ErrNetworkDown        = newError("network is down", syscall.ENETDOWN)

	// Endpoint state.
	ErrInvalidEndpointState = newError("endpoint is in invalid state", syscall.EINVAL)
	ErrAlreadyBound         = newError("endpoint already bound", syscall.EINVAL)
	ErrAlreadyConnecting    = newError("endpoint is already connecting", syscall.EALREADY)
	ErrAlreadyConnected     = newError("endpoint is already connected", syscall.EISCONN)
	ErrConnectStarted       = newError("connection attempt started", syscall.EINPROGRESS)
	ErrNotConnected         = newError("endpoint not connected", syscall.ENOTCONN)
	ErrDestinationRequired  = newError("destination address required", syscall.EDESTADDRREQ)
	ErrAddressInUse         = newError("address already in use", syscall.EADDRINUSE)
	ErrNoPortAvailable      = newError("no ephemeral port available", syscall.EAGAIN)
	ErrWouldBlock           = newError("operation would block", syscall.EWOULDBLOCK)
	ErrClosedForSend        = newError("endpoint is closed for send", syscall.EPIPE)
	ErrBroadcastDisabled    = newError("broadcast not enabled on endpoint", syscall.EACCES)

	// Connections.
	ErrConnectionRefused = newError("connection refused", syscall.ECONNREFUSED)
	ErrConnectionReset   = newError("connection reset by peer", syscall.ECONNRESET)
	ErrConnectionAborted = newError("connection aborted", syscall.ECONNABORTED)
	ErrTimeout           = newError("connection timed out", syscall.ETIMEDOUT)

	// Packets and buffers.
	ErrMessageTooLong = newError("message too long", syscall.EMSGSIZE)
	ErrNoBufferSpace  = newError("no buffer space available", syscall.ENOBUFS)
	ErrMalformed      = newError("malformed packet", syscall.EINVAL)
	ErrBadAddress     = newError("bad address", syscall.EFAULT)
)

// AllErrors lists every sentinel error, for tables and tests.
var AllErrors = []*Error{
	ErrUnknownProtocol, ErrUnknownNICID, ErrUnknownDevice, ErrDuplicateNICID,
	ErrDuplicateAddress, ErrAddressNotFound, ErrBadLocalAddress, ErrInvalidArgument,
	ErrInvalidOptionValue, ErrUnknownProtocolOption, ErrNotSupported, ErrNotPermitted,
	ErrAddressFamily, ErrStackClosed,
	ErrNoRoute, ErrNetworkUnreachable, ErrHostUnreachable, ErrHostDown, ErrNetworkDown,
	ErrInvalidEndpointState, ErrAlreadyBound, ErrAlreadyConnecting, ErrAlreadyConnected,
	ErrConnectStarted, ErrNotConnected, ErrDestinationRequired, ErrAddressInUse,
	ErrNoPortAvailable, ErrWouldBlock, ErrClosedForSend, ErrBroadcastDisabled,
	ErrConnectionRefused, ErrConnectionReset, ErrConnectionAborted, ErrTimeout,
	ErrMessageTooLong, ErrNoBufferSpace, ErrMalformed, ErrBadAddress,
}
