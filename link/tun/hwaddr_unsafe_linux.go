package tun

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ustack-go/ustack/tcpip"
)

// tunIfreqSize covers struct ifreq on every architecture: 16 bytes of name
// and a union of at most 24 bytes (struct ifmap on 64-bit targets; 16 on
// 32-bit ones, and for 32-bit processes on a 64-bit kernel).
const tunIfreqSize = 40

// Offsets in struct ifreq of the union's struct sockaddr (ifr_hwaddr): its
// family, then sa_data, where SIOCGIFHWADDR puts the address.
const (
	tunIfreqHWFamily = unix.IFNAMSIZ
	tunIfreqHWData   = unix.IFNAMSIZ + 2
)

// tunGetHardwareAddr asks the TUN driver for the Ethernet address of the
// device attached to fd. The driver answers SIOCGIFHWADDR on its own
// descriptor (as netdevice(7) describes for sockets) for the attached
// device, wherever that device is now, so no control socket and no
// namespace switch is needed. x/sys's Ifreq gives no access to the
// sockaddr's bytes, so this one ioctl builds its own struct ifreq.
func tunGetHardwareAddr(fd int) (tcpip.LinkAddress, error) {
	var ifr [tunIfreqSize]byte
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCGIFHWADDR, uintptr(unsafe.Pointer(&ifr)))
	if errno != 0 {
		return tcpip.LinkAddress{}, errno
	}
	if fam := binary.NativeEndian.Uint16(ifr[tunIfreqHWFamily:]); fam != unix.ARPHRD_ETHER {
		return tcpip.LinkAddress{}, fmt.Errorf("hardware type %d is not Ethernet", fam)
	}
	var a tcpip.LinkAddress
	copy(a[:], ifr[tunIfreqHWData:])
	return a, nil
}
