package graph

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"testing"
)

// chunkConn is a net.Conn whose reads return what is left of data in
// chunks of random size, as a socket does.
type chunkConn struct {
	net.Conn
	data []byte
	rnd  *rand.Rand
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), 1+c.rnd.IntN(40000))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// TestRecordConnStopsAtRecordEnds reads a stream of TLS records through a
// recordConn with large buffers: every byte arrives, in order, and no read
// returns bytes of two records (or of a header and its fragment).
func TestRecordConnStopsAtRecordEnds(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	var ends []int // offsets where a header or a fragment ends
	for range 200 {
		n := rnd.IntN(tlsMaxRecord + 1)
		if rnd.IntN(4) == 0 {
			n = 1 << 14
		}
		stream = append(stream, 23, 3, 3, byte(n>>8), byte(n))
		ends = append(ends, len(stream))
		for range n {
			stream = append(stream, byte(rnd.Uint32()))
		}
		ends = append(ends, len(stream))
	}
	c := &recordConn{Conn: &chunkConn{data: bytes.Clone(stream), rnd: rnd}}
	var got []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		start := len(got)
		got = append(got, buf[:n]...)
		for _, e := range ends {
			if e > start && e < len(got) {
				t.Fatalf("a read returned bytes %d–%d, across the record boundary at %d", start, len(got), e)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, stream) {
		t.Fatalf("read %d bytes, not the %d sent", len(got), len(stream))
	}
	if c.plain {
		t.Error("a stream of TLS records was taken for something else")
	}
}

// TestRecordConnPassesOtherStreams reads what is not TLS (a proxy's
// answer to CONNECT) as it comes.
func TestRecordConnPassesOtherStreams(t *testing.T) {
	msg := []byte("HTTP/1.1 200 Connection established\r\n\r\n")
	c := &recordConn{Conn: &chunkConn{data: bytes.Clone(msg), rnd: rand.New(rand.NewPCG(3, 4))}}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) || !c.plain {
		t.Errorf("read %q (plain %v), want %q passed through", got, c.plain, msg)
	}
}

// countConn is a net.Conn holding data all at once, counting its reads.
type countConn struct {
	net.Conn
	data  []byte
	reads int
}

func (c *countConn) Read(p []byte) (int, error) {
	c.reads++
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

// TestRecordConnReadsHeaderAhead reads records the socket holds whole: the
// read of a fragment takes the next header too, so each record costs one
// read of the socket, and still no Read returns bytes of two records.
func TestRecordConnReadsHeaderAhead(t *testing.T) {
	const records, size = 100, 1000
	var stream []byte
	for i := range records {
		stream = append(stream, 23, 3, 3, size>>8, size&0xff)
		stream = append(stream, bytes.Repeat([]byte{byte(i)}, size)...)
	}
	conn := &countConn{data: bytes.Clone(stream)}
	c := &recordConn{Conn: conn}
	var got []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 && n != tlsHeaderLen && n != size {
			t.Fatalf("a read returned %d bytes: want a header (%d) or a fragment (%d)", n, tlsHeaderLen, size)
		}
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, stream) {
		t.Fatalf("read %d bytes, not the %d sent", len(got), len(stream))
	}
	if conn.reads > records+2 {
		t.Errorf("%d reads of the socket for %d records", conn.reads, records)
	}
}
