package connector

import (
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/syncplane/syncplane/proto/syncplane/connector/v1"
)

func benchRecs() []Record {
	recs := make([]Record, 500)
	for i := range recs {
		p := make([]byte, 900)
		for j := range p {
			p[j] = 'a' + byte((i+j)%26)
		}
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		recs[i] = Record{ID: "r" + strconv.Itoa(i), Modified: at, Fields: map[string]any{"id": "r", "n": int64(i), "subject": "Meeting", "start": at, "payload": string(p), "isAllDay": false}}
	}
	return recs
}

func BenchmarkConvToProto(b *testing.B) {
	recs := benchRecs()
	for b.Loop() {
		_, _ = recordsToProto(recs)
	}
}

func BenchmarkMarshal(b *testing.B) {
	prs, _ := recordsToProto(benchRecs())
	m := &pb.ReadResponse{Records: prs}
	for b.Loop() {
		_, _ = proto.Marshal(m)
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	prs, _ := recordsToProto(benchRecs())
	data, _ := proto.Marshal(&pb.ReadResponse{Records: prs})
	for b.Loop() {
		var m pb.ReadResponse
		_ = proto.Unmarshal(data, &m)
	}
}

func BenchmarkConvFromProto(b *testing.B) {
	prs, _ := recordsToProto(benchRecs())
	for b.Loop() {
		_, _ = recordsFromProto(prs)
	}
}

func BenchmarkClone(b *testing.B) {
	recs := benchRecs()
	for b.Loop() {
		out := make([]Record, len(recs))
		for i := range recs {
			out[i] = recs[i].Clone()
			_ = out[i].Normalize()
		}
	}
}

func BenchmarkFastEncode(b *testing.B) {
	recs := benchRecs()
	for b.Loop() {
		_, _ = encodeReadResponse(recs)
	}
}

func BenchmarkFastDecode(b *testing.B) {
	frame, _ := encodeReadResponse(benchRecs())
	for b.Loop() {
		var m fastReadResponse
		_ = m.decode(frame)
	}
}
