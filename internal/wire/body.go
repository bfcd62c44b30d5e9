package wire

import (
	"io"
	"sync"
)

// Sizes for reading response bodies.
const (
	// maxPrealloc bounds the buffer allocated from a Content-Length before
	// reading: a body claiming more grows as it arrives. A GetRecords
	// response holds at most 10 MiB of data, about 14 MiB in base64.
	maxPrealloc = 32 << 20
	// noLength is the first buffer size for a body of unknown length.
	noLength = 64 << 10
	// maxPooledBody bounds the buffers kept for the next response.
	maxPooledBody = maxPrealloc + 1
)

var bodies = sync.Pool{New: func() any { return new([]byte) }}

func getBody() *[]byte { return bodies.Get().(*[]byte) }

func putBody(b *[]byte) {
	if cap(*b) > maxPooledBody {
		*b = nil
	}
	*b = (*b)[:0]
	bodies.Put(b)
}

// readBody reads r to its end into buf, reallocated if too small for
// length bytes (the Content-Length; negative when unknown) and grown as
// needed. The body's length, not the header, decides where it ends, as for
// the SDK.
func readBody(r io.Reader, length int64, buf []byte) ([]byte, error) {
	want := noLength
	if length >= 0 {
		// One byte more, so that the end is seen without growing.
		want = int(min(length, maxPrealloc)) + 1
	}
	if cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
