//go:build unix

package connector

import (
	"os"

	"golang.org/x/sys/unix"
)

// protectStdout duplicates the real stdout for go-plugin's handshake line
// and redirects descriptor 1 to stderr, so stray writes to it become log
// lines on the host instead of corrupting the protocol. go-plugin then
// replaces os.Stdout with its own pipe, forwarded to the host's log.
func protectStdout() (restore func()) {
	saved, err := unix.Dup(1)
	if err != nil {
		return func() {}
	}
	unix.CloseOnExec(saved)
	if err := unix.Dup2(2, 1); err != nil {
		_ = unix.Close(saved)
		return func() {}
	}
	orig := os.Stdout
	os.Stdout = os.NewFile(uintptr(saved), "/dev/stdout")
	return func() {
		_ = unix.Dup2(saved, 1)
		os.Stdout = orig
	}
}
