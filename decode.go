package kinesin

import (
	"encoding/json"
	"fmt"
)

// Decoder turns a record's data into a value of type T. Any func of this
// shape fits; JSON, Bytes and String are provided. A decoder is called from
// the shard readers' goroutines, concurrently, and must not keep data.
type Decoder[T any] func(data []byte) (T, error)

// JSON decodes data as JSON into a T.
func JSON[T any](data []byte) (T, error) {
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}

// Bytes hands the data over as it is (the record's own copy, not shared).
func Bytes(data []byte) ([]byte, error) { return data, nil }

// String hands the data over as a string.
func String(data []byte) (string, error) { return string(data), nil }

// decode sets r.Value from r.Data, or r.err to a *DecodeError, and reports
// whether it decoded. A decoder that panics is a decoding error too: the
// stream goes on.
func (s *Stream[T]) decode(r *Record[T]) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			r.err = &DecodeError{ShardID: r.ShardID, SequenceNumber: r.SequenceNumber, SubSequenceNumber: r.SubSequenceNumber,
				Data: r.Data, Panic: v, Err: fmt.Errorf("%w: %v", ErrDecoderPanic, v)}
			ok = false
		}
	}()
	v, err := s.dec(r.Data)
	if err != nil {
		r.err = &DecodeError{ShardID: r.ShardID, SequenceNumber: r.SequenceNumber, SubSequenceNumber: r.SubSequenceNumber, Data: r.Data, Err: err}
		return false
	}
	r.Value = v
	return true
}
