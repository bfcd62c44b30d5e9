package dynamodb

import (
	"fmt"
	"unicode/utf8"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// The ordering key stored in attribute seq_key is checkpoint.OrderKey: a
// fixed-width digit string that DynamoDB's string comparison orders as
// checkpoint.Compare does.

// Limits of DynamoDB key attributes, in bytes of UTF-8.
const (
	maxPartitionKey = 2048
	maxSortKey      = 1024
)

// namespaceKey returns the partition key of (app, stream): the byte length of
// app in decimal, ':', app, '/', stream. The length makes the encoding
// unambiguous whatever the names hold: "3:a/b/c" is app "a/b" and stream "c",
// "1:a/b/c" is app "a" and stream "b/c".
func namespaceKey(app, stream string) (string, error) {
	if !utf8.ValidString(app) || !utf8.ValidString(stream) {
		return "", fmt.Errorf("app and stream names must be valid UTF-8 to be stored in DynamoDB")
	}
	ns := checkpoint.Namespace(app, stream)
	if len(ns) > maxPartitionKey {
		return "", fmt.Errorf("app and stream names are too long: their partition key %q... has %d bytes, DynamoDB takes at most %d",
			ns[:32], len(ns), maxPartitionKey)
	}
	return ns, nil
}

// checkShardID reports whether id can be a sort key.
func checkShardID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty shard id", checkpoint.ErrInvalid)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: shard id is not valid UTF-8", checkpoint.ErrInvalid)
	case len(id) > maxSortKey:
		return fmt.Errorf("%w: shard id has %d bytes, DynamoDB takes at most %d", checkpoint.ErrInvalid, len(id), maxSortKey)
	}
	return nil
}
