package kinesin

import (
	"encoding/json"
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
