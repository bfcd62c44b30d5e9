package bench

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/kinesin-go/kinesin/kinesistest"
)

const (
	// streamName is the stream of every scenario (one fake each).
	streamName = "bench"
	// recordSize is the data of every record, in bytes.
	recordSize = 200
	// keySize is the length of the partition keys put ("k000" to "k999"):
	// the fake counts them with the data against the read limits.
	keySize = 4
)

// payload returns recordSize bytes of printable data.
func payload() []byte {
	data := make([]byte, recordSize)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	return data
}

// newStream returns a fake holding a stream of the given shards, each with
// perShard records of recordSize bytes (put with the fake's helpers, which
// no limit holds back), and the shards.
func newStream(shards, perShard int, opts ...kinesistest.Option) (*kinesistest.Fake, []kinesistest.ShardInfo, error) {
	// A 1,024-shard backlog of 2,000 records takes about 420 MB.
	opts = append([]kinesistest.Option{kinesistest.WithMaxStoredBytes(8 << 30)}, opts...)
	fake, err := kinesistest.NewFake(opts...)
	if err != nil {
		return nil, nil, err
	}
	if err := fake.CreateStream(streamName, shards); err != nil {
		fake.Close()
		return nil, nil, err
	}
	infos, err := fake.Shards(streamName)
	if err != nil {
		fake.Close()
		return nil, nil, err
	}
	data := payload()
	for _, sh := range infos {
		for i := range perShard {
			if _, err := fake.PutWithHashKey(streamName, partitionKey(i), sh.StartingHashKey, data); err != nil {
				fake.Close()
				return nil, nil, fmt.Errorf("filling shard %s: %w", sh.ID, err)
			}
		}
	}
	return fake, infos, nil
}

// partitionKey is the key of the i-th record put in a shard.
func partitionKey(i int) string { return fmt.Sprintf("k%03d", i%1000) }

// stamped returns a record whose first 8 bytes are the time it is made, for
// the latency scenario; putTime reads it back.
func stamped(data []byte, at time.Time) []byte {
	binary.BigEndian.PutUint64(data, uint64(at.UnixNano()))
	return data
}

// putTime is the time stamped in a record's data.
func putTime(data []byte) time.Time {
	if len(data) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(data)))
}
