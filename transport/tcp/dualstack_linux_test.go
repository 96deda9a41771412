package tcp_test

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// kernelSock opens k as a kernel socket on loopback (10.0.0.x of the
// table becomes 127.0.0.x, every 127/8 address being local), binds it to
// port and listens if asked. It returns the socket (-1 if none) and the
// first error.
func kernelSock(t *testing.T, k sock, port int) (int, error) {
	t.Helper()
	family := unix.AF_INET
	if k.v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if k.v6 && errors.Is(err, unix.EAFNOSUPPORT) {
			t.Skip("no IPv6 in the kernel")
		}
		t.Fatal(err)
	}
	fail := func(err error) (int, error) {
		unix.Close(fd)
		return -1, err
	}
	opts := []struct {
		level, opt int
		on         bool
	}{
		{unix.SOL_SOCKET, unix.SO_REUSEADDR, k.reuseAddr},
		{unix.SOL_SOCKET, unix.SO_REUSEPORT, k.reusePort},
	}
	if k.v6 {
		// Explicitly: the host's net.ipv6.bindv6only may differ from
		// Linux's default that the table assumes.
		opts = append(opts, struct {
			level, opt int
			on         bool
		}{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, k.v6only})
	}
	for _, o := range opts {
		v := 0
		if o.on {
			v = 1
		}
		if err := unix.SetsockoptInt(fd, o.level, o.opt, v); err != nil {
			t.Fatal(err)
		}
	}
	a := netip.IPv4Unspecified()
	if k.v6 {
		a = netip.IPv6Unspecified()
	}
	if k.addr != "" {
		a = netip.MustParseAddr(strings.Replace(k.addr, "10.0.0.", "127.0.0.", 1))
	}
	var sa unix.Sockaddr
	if k.v6 {
		sa = &unix.SockaddrInet6{Port: port, Addr: a.As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: port, Addr: a.As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail(err)
	}
	if k.listen {
		if err := unix.Listen(fd, 1); err != nil {
			return fail(err)
		}
	}
	return fd, nil
}

// freePort returns a TCP port that no socket of either family holds now.
func freePort(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skip("no IPv6 in the kernel")
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet6{}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*unix.SockaddrInet6).Port
}

// The bind-conflict table that ustack follows is Linux's: each row gives
// the same outcome on the kernel's own sockets (on loopback; no privilege
// needed).
func TestBindConflictsMatchLinux(t *testing.T) {
	for _, tt := range bindConflictTests {
		t.Run(tt.name, func(t *testing.T) {
			port := freePort(t)
			fd1, err := kernelSock(t, tt.first, port)
			if err != nil {
				t.Fatalf("first: %v", err)
			}
			defer unix.Close(fd1)
			fd2, err := kernelSock(t, tt.second, port)
			if fd2 >= 0 {
				unix.Close(fd2)
			}
			var errno syscall.Errno
			if err != nil && !errors.As(err, &errno) {
				t.Fatalf("second: %v", err)
			}
			if (err == nil) != (tt.want == nil) || (err != nil && !errors.Is(tt.want, errno)) {
				t.Fatalf("kernel: second = %v, table wants %v", err, tt.want)
			}
		})
	}
}
