package tun

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// The interface ioctls (SIOCGIFMTU and the like) look the device up by name
// in the network namespace of the socket they are issued on; the TUN
// driver's own descriptor answers only a few of them (SIOCGIFHWADDR), not
// the MTU. A TAP
// device opened here and then moved into a test's namespace is no longer
// found by a socket of the caller's namespace, and another device may hold
// its name there. withControlSocket therefore asks the TUN driver which
// namespace the device is in now and what it is called, and issues the
// ioctl on a socket of that namespace.

// withControlSocket calls f with a socket of the device's current network
// namespace and an ifreq holding the device's current name. d.mu must be
// held for reading.
func (d *Device) withControlSocket(f func(s int, ifr *unix.Ifreq) error) error {
	// TUNGETIFF returns the name the device has now, wherever it is.
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(d.fd, unix.TUNGETIFF, ifr); err != nil {
		return fmt.Errorf("TUNGETIFF: %w", err)
	}
	name, err := unix.NewIfreq(ifr.Name())
	if err != nil {
		return err
	}
	s, err := d.controlSocketRLocked()
	if err != nil {
		return err
	}
	defer unix.Close(s)
	return f(s, name)
}

// controlSocketRLocked returns a datagram socket of the namespace the
// device is in. d.mu must be held for reading.
func (d *Device) controlSocketRLocked() (int, error) {
	// TUNGETDEVNETNS (Linux 5.2) returns a descriptor of the device's
	// namespace. Older kernels reject it (ENOTTY or EINVAL), and it needs
	// CAP_NET_ADMIN over that namespace (EPERM otherwise); in those cases
	// the device is taken to be where the caller is, which is true unless
	// someone moved it.
	nsfd, err := unix.IoctlRetInt(d.fd, unix.TUNGETDEVNETNS)
	if err != nil {
		return tunControlSocket()
	}
	defer unix.Close(nsfd)
	var there, here unix.Stat_t
	if err := unix.Fstat(nsfd, &there); err != nil {
		return -1, fmt.Errorf("fstat namespace: %w", err)
	}
	// Namespaces are the same if their nsfs inodes are (namespaces(7)).
	if err := unix.Stat("/proc/thread-self/ns/net", &here); err == nil &&
		here.Dev == there.Dev && here.Ino == there.Ino {
		return tunControlSocket()
	}
	return tunSocketInNamespace(nsfd)
}

// tunSocketInNamespace creates a control socket in the network namespace
// nsfd. A socket stays in the namespace it was created in, so it is enough
// for one OS thread to enter that namespace for the socket(2) call. The
// work runs on a goroutine of its own, locked to its thread: if the thread
// cannot return to its original namespace, the goroutine exits without
// unlocking, and the runtime then ends the thread instead of reusing it for
// other goroutines in the wrong namespace. Entering a namespace (setns(2))
// needs CAP_SYS_ADMIN.
func tunSocketInNamespace(nsfd int) (int, error) {
	type result struct {
		s   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := tunSocketInNamespaceLockedThread(nsfd)
		done <- result{s, err}
	}()
	r := <-done
	return r.s, r.err
}

// tunSocketInNamespaceLockedThread locks the calling goroutine to its
// thread, moves the thread into nsfd, creates the socket and moves the
// thread back. It unlocks the thread only if the thread is back in its own
// namespace.
func tunSocketInNamespaceLockedThread(nsfd int) (int, error) {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return -1, fmt.Errorf("open own namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return -1, fmt.Errorf("setns to the device's namespace: %w", err)
	}
	s, serr := tunControlSocket()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// Stay locked: the runtime ends this thread with the goroutine.
		if serr == nil {
			unix.Close(s)
		}
		return -1, fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return s, serr
}
