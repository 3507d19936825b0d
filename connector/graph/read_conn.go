package graph

import (
	"context"
	"net"
)

// TLS record layer (RFC 8446 §5.1, RFC 5246 §6.2): every record starts
// with a header of five bytes — content type, protocol version (two
// bytes), length of the fragment (two bytes).
const (
	tlsHeaderLen = 5
	// tlsMaxRecord is the longest fragment a peer may send: 2^14 plus the
	// 2,048 bytes of expansion TLS 1.2 allows (TLS 1.3 allows 256).
	tlsMaxRecord = 1<<14 + 2048
)

// recordConn is the connection under crypto/tls: a Read never returns
// bytes past the end of the TLS record it is in.
//
// crypto/tls reads a record into a buffer of its own, fetching whatever
// the socket holds beyond it, and grows that buffer, never to shrink,
// whenever a record does not fit beside what it fetched ahead. An answer
// whose body waits in the connection until it can be decoded (see
// request.gate) fills the socket, so each connection's buffer grew to
// several records; read a record at a time, it stays one record long,
// whatever the number of connections that wait.
//
// The read of a fragment's last bytes also takes the header of the record
// after it, when the socket holds it: that header is returned by the next
// Read, which so costs no system call, and a record costs one read of the
// socket instead of two (its header, then its fragment).
//
// The stream is followed only while it looks like TLS records; anything
// else (a proxy's answer to CONNECT) is passed through as it comes.
type recordConn struct {
	net.Conn
	// hdr holds the header of the next record: got bytes of it read from
	// the connection, the first given of them returned by Read.
	hdr   [tlsHeaderLen]byte
	got   int
	given int
	// left is how much of the record's fragment is still to come.
	left int
	// plain is set once the stream is not TLS records.
	plain bool
}

// Read reads at most to the end of the current header or fragment.
func (c *recordConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return c.Conn.Read(p)
	}
	if c.given < c.got {
		// A header read ahead (or what the stream held instead).
		n := copy(p, c.hdr[c.given:c.got])
		c.given += n
		c.settle()
		return n, nil
	}
	if c.plain {
		return c.Conn.Read(p)
	}
	if c.left > 0 {
		// The rest of the fragment, and room for the next header; p
		// beyond what Read returns is scratch space (io.Reader).
		n, err := c.Conn.Read(p[:min(len(p), c.left+tlsHeaderLen)])
		if n > c.left {
			c.got = copy(c.hdr[:], p[c.left:n])
			c.given = 0
			n = c.left
			c.settle()
		}
		c.left -= n
		return n, err
	}
	n, err := c.Conn.Read(p[:min(len(p), tlsHeaderLen-c.got)])
	c.got += copy(c.hdr[c.got:], p[:n])
	c.given = c.got
	c.settle()
	return n, err
}

// settle checks the header bytes held and, once the whole header is
// returned, starts its record's fragment.
func (c *recordConn) settle() {
	if c.got == 0 {
		return
	}
	if c.hdr[0] < 20 || c.hdr[0] > 24 {
		c.plain = true
		return
	}
	if c.got < tlsHeaderLen {
		return
	}
	length := int(c.hdr[3])<<8 | int(c.hdr[4])
	if c.hdr[1] != 3 || length > tlsMaxRecord {
		c.plain = true
		return
	}
	if c.given == tlsHeaderLen {
		c.left = length
		c.got, c.given = 0, 0
	}
}

// recordDialer dials as d does, each connection read a TLS record at a
// time (see recordConn).
func recordDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &recordConn{Conn: conn}, nil
	}
}
