//go:build !unix

package connector

// protectStdout relies on go-plugin alone outside Unix: it replaces
// os.Stdout after the handshake.
func protectStdout() (restore func()) { return func() {} }
