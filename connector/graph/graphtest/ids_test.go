package graphtest

import (
	"regexp"
	"testing"
)

// TestRequestIDForm: request ids are GUID-shaped, in lower-case hex, and
// fresh each time.
func TestRequestIDForm(t *testing.T) {
	form := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id := requestID()
		if !form.MatchString(id) {
			t.Fatalf("request id %q is not GUID-shaped", id)
		}
		if seen[id] {
			t.Fatalf("request id %q repeated", id)
		}
		seen[id] = true
	}
}

// TestSeededBytesDrawnAsBefore: ids, change keys and iCalUIds drawn from
// the seeded generator a block at a time (randBytes) are the bytes that
// drawing byte(rng.UintN(256)) one by one gives, so a seed makes the
// same tenant, ids and change keys as it always has.
func TestSeededBytesDrawnAsBefore(t *testing.T) {
	for _, seed := range []int64{0, 1, 5, -7} {
		a, err := Start(Options{Users: -1, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Start(Options{Users: -1, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 12, 15, 16, 32} {
			got := make([]byte, n)
			a.randBytes(got)
			want := make([]byte, n)
			for i := range want {
				want[i] = byte(b.rng.UintN(256))
			}
			if string(got) != string(want) {
				t.Errorf("seed %d, %d bytes: %x, drawn one by one %x", seed, n, got, want)
			}
		}
		if got, want := a.newGOID(), b.goidByteByByte(); got != want {
			t.Errorf("seed %d: iCalUId %s, drawn one by one %s", seed, got, want)
		}
		a.Close()
		b.Close()
	}
}

// goidByteByByte is newGOID as it drew its random tail, a byte a call.
func (s *Server) goidByteByByte() string {
	const prefix = "040000008200E00074C5B7101A82E008" + "00000000"
	const digits = "0123456789ABCDEF"
	b := []byte(prefix)
	for range 32 {
		c := byte(s.rng.UintN(256))
		b = append(b, digits[c>>4], digits[c&15])
	}
	return string(b)
}
