//go:build !linux

package serve

import (
	"errors"

	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// openTAP fails: TAP devices are supported on Linux only.
func openTAP(string, int, tcpip.LinkAddress, bool) (stack.LinkEndpoint, error) {
	return nil, errors.New("TAP devices are supported on Linux only")
}
