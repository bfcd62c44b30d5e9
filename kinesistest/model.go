package kinesistest

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"
)

// Service constants the fake reproduces.
const (
	iteratorLifetime     = 5 * time.Minute
	nextTokenLifetime    = 300 * time.Second
	subscriptionLifetime = 5 * time.Minute
	subscribeTakeover    = 5 * time.Second
	defaultRetention     = 24 * time.Hour
	maxGetRecordsLimit   = 10000
	maxGetRecordsBytes   = 10 << 20
	maxRecordBytes       = 1 << 20
	maxPutRecordsCount   = 500
	maxPutRecordsBytes   = 5 << 20
	maxConsumers         = 20
	maxCreatingConsumers = 5
	onDemandShards       = 4
)

// u128 is a 128-bit unsigned hash key.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a u128) big() *big.Int {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], a.hi)
	binary.BigEndian.PutUint64(b[8:], a.lo)
	return new(big.Int).SetBytes(b[:])
}

func (a u128) String() string { return a.big().String() }

func fromBig(b *big.Int) u128 {
	var buf [16]byte
	b.FillBytes(buf[:])
	return u128{hi: binary.BigEndian.Uint64(buf[:8]), lo: binary.BigEndian.Uint64(buf[8:])}
}

func (a u128) add(n uint64) u128 {
	lo := a.lo + n
	hi := a.hi
	if lo < a.lo {
		hi++
	}
	return u128{hi, lo}
}

func (a u128) sub1() u128 {
	if a.lo == 0 {
		return u128{a.hi - 1, ^uint64(0)}
	}
	return u128{a.hi, a.lo - 1}
}

var maxHashKey = u128{^uint64(0), ^uint64(0)}

// parseHashKey parses a decimal 128-bit hash key.
func parseHashKey(s string) (u128, bool) {
	if s == "" || len(s) > 39 {
		return u128{}, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return u128{}, false
		}
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok || b.BitLen() > 128 {
		return u128{}, false
	}
	return fromBig(b), true
}

// partitionHash is the hash key of a partition key: its MD5 read as a
// big-endian 128-bit number.
func partitionHash(pk string) u128 {
	sum := md5.Sum([]byte(pk))
	return u128{hi: binary.BigEndian.Uint64(sum[:8]), lo: binary.BigEndian.Uint64(sum[8:])}
}

// uniformRanges splits the whole hash key space into n ranges as evenly as the
// service does: each range is 2^128/n wide, the last one takes the remainder.
func uniformRanges(n int) [][2]u128 {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	size := new(big.Int).Div(space, big.NewInt(int64(n)))
	out := make([][2]u128, n)
	for i := range n {
		start := new(big.Int).Mul(size, big.NewInt(int64(i)))
		end := new(big.Int).Add(start, size)
		end.Sub(end, big.NewInt(1))
		if i == n-1 {
			end = maxHashKey.big()
		}
		out[i] = [2]u128{fromBig(start), fromBig(end)}
	}
	return out
}

// Sequence numbers are 56 decimal digits, like the service's: "49", the
// 24-digit tag of the stream (its generation: every stream the fake creates,
// a re-created one of the same name included, has its own), a 20-digit
// counter unique within the stream and growing with every record, and the
// 10-digit index of the shard. They compare as big integers; because they
// all have the same length, they compare as strings too. The tag lets the
// fake refuse a sequence number of another stream, or of an earlier stream
// of the same name, as the service does.
const seqLen = 56

// Offsets of the parts of a sequence number.
const (
	seqTagAt     = 2  // 24 digits; the first 4 are always 0 (a uint64 has 20)
	seqCounterAt = 26 // 20 digits
	seqShardAt   = 46 // 10 digits
)

func formatSeq(tag, counter uint64, shardIndex int) string {
	var b [seqLen]byte
	for i := range b {
		b[i] = '0'
	}
	b[0], b[1] = '4', '9'
	var tmp [20]byte
	t := strconv.AppendUint(tmp[:0], tag, 10)
	copy(b[seqCounterAt-len(t):seqCounterAt], t)
	c := strconv.AppendUint(tmp[:0], counter, 10)
	copy(b[seqShardAt-len(c):seqShardAt], c)
	s := strconv.AppendUint(tmp[:0], uint64(shardIndex), 10)
	copy(b[seqLen-len(s):], s)
	return string(b[:])
}

// parseSeq returns the stream tag, counter and shard index of a sequence
// number the fake could have issued, or false for anything else.
func parseSeq(s string) (tag, counter uint64, shardIndex int, ok bool) {
	if len(s) != seqLen || s[0] != '4' || s[1] != '9' {
		return 0, 0, 0, false
	}
	for i := 2; i < seqLen; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, 0, 0, false
		}
	}
	for i := seqTagAt; i < seqCounterAt-20; i++ { // the tag must fit in 20 digits
		if s[i] != '0' {
			return 0, 0, 0, false
		}
	}
	t, err := strconv.ParseUint(s[seqCounterAt-20:seqCounterAt], 10, 64)
	if err != nil {
		return 0, 0, 0, false
	}
	c, err := strconv.ParseUint(s[seqCounterAt:seqShardAt], 10, 64)
	if err != nil {
		return 0, 0, 0, false
	}
	idx, err := strconv.Atoi(s[seqShardAt:])
	if err != nil {
		return 0, 0, 0, false
	}
	return t, c, idx, true
}

// stream is one Kinesis data stream.
type stream struct {
	name      string
	arn       string
	created   time.Time
	activeAt  time.Time // CREATING before this
	updating  time.Time // UPDATING before this
	goneAt    time.Time // set by DeleteStream: DELETING before this, then gone
	onDemand  bool
	retention time.Duration
	shards    []*shard // every shard ever made, by index
	byID      map[string]*shard
	counter   uint64 // the last sequence counter handed out
	consumers map[string]*consumer
	tags      map[string]string
	gen       uint64 // distinguishes a re-created stream of the same name

	encryption string    // "NONE" or "KMS"
	encBefore  string    // the encryption in force before encFrom
	encFrom    time.Time // when the last change of encryption applies
	keyID      string    // the KMS key while encryption is "KMS"
	metrics    []string  // enhanced shard-level metrics, in the service's order

	// rates holds the windows of the control-plane call rates that apply
	// per stream (WithServiceLimits).
	rates map[string]*rateWindow
	// Rolling 24-hour windows of the changes the service counts per stream.
	scalings, modeChanges, encStarts, encStops dayWindow
}

func (s *stream) status(now time.Time) string {
	switch {
	case !s.goneAt.IsZero():
		return "DELETING"
	case now.Before(s.activeAt):
		return "CREATING"
	case now.Before(s.updating):
		return "UPDATING"
	default:
		return "ACTIVE"
	}
}

func (s *stream) openShards() []*shard {
	var out []*shard
	for _, sh := range s.shards {
		if sh.open() && !sh.gone {
			out = append(out, sh)
		}
	}
	return out
}

// visibleShards are the shards the service still lists: every shard but those
// closed and fully trimmed by retention.
func (s *stream) visibleShards() []*shard {
	out := make([]*shard, 0, len(s.shards))
	for _, sh := range s.shards {
		if !sh.gone {
			out = append(out, sh)
		}
	}
	return out
}

// nextSeq hands out the next sequence counter of the stream.
func (s *stream) nextSeq() uint64 {
	s.counter++
	return s.counter
}

// newShard adds a shard covering [lo, hi].
func (s *stream) newShard(lo, hi u128, parent, adjacent string, now time.Time) *shard {
	idx := len(s.shards)
	sh := &shard{
		stream:       s,
		id:           fmt.Sprintf("shardId-%012d", idx),
		index:        idx,
		parent:       parent,
		adjacent:     adjacent,
		lo:           lo,
		hi:           hi,
		loStr:        lo.String(),
		hiStr:        hi.String(),
		startCounter: s.nextSeq(),
		created:      now,
		notify:       make(chan struct{}),
	}
	s.shards = append(s.shards, sh)
	s.byID[sh.id] = sh
	return sh
}

// shardFor returns the open shard whose range holds key.
func (s *stream) shardFor(key u128) *shard {
	for _, sh := range s.shards {
		if sh.open() && !sh.gone && sh.lo.cmp(key) <= 0 && key.cmp(sh.hi) <= 0 {
			return sh
		}
	}
	return nil
}

// shard is one shard of a stream, open or closed.
type shard struct {
	stream       *stream
	id           string
	index        int
	parent       string
	adjacent     string
	lo, hi       u128
	loStr, hiStr string
	startCounter uint64
	endCounter   uint64 // set when the shard closes
	created      time.Time
	closedAt     time.Time
	children     []string
	records      []record
	trimmedBelow uint64 // counters below this were removed by retention
	gone         bool   // closed and past retention: no longer listed
	notify       chan struct{}
	reads        readWindow
	writes       writeWindow
}

func (sh *shard) open() bool { return sh.endCounter == 0 }

// wake tells every waiter (subscriptions) that the shard changed.
func (sh *shard) wake() {
	close(sh.notify)
	sh.notify = make(chan struct{})
}

func (sh *shard) close(now time.Time) {
	sh.endCounter = sh.stream.nextSeq()
	sh.closedAt = now
	sh.wake()
}

// indexAt returns the index of the first record whose counter is >= c.
func (sh *shard) indexAt(c uint64) int {
	i, _ := slices.BinarySearchFunc(sh.records, c, func(r record, c uint64) int {
		switch {
		case r.counter < c:
			return -1
		case r.counter > c:
			return 1
		}
		return 0
	})
	return i
}

// atEnd reports whether a reader at counter pos has read everything the shard
// will ever hold.
func (sh *shard) atEnd(pos uint64) bool {
	return !sh.open() && sh.indexAt(pos) == len(sh.records)
}

// seq formats counter c as a sequence number of sh.
func (sh *shard) seq(c uint64) string { return formatSeq(sh.stream.gen, c, sh.index) }

func (sh *shard) startSeq() string { return sh.seq(sh.startCounter) }

func (sh *shard) endSeq() string {
	if sh.open() {
		return ""
	}
	return sh.seq(sh.endCounter)
}

// encryptionAt returns the encryption applied to records written at now:
// a change applies once the stream is ACTIVE again.
func (s *stream) encryptionAt(now time.Time) string {
	if now.Before(s.encFrom) {
		return s.encBefore
	}
	return s.encryption
}

// record is one stored data record. Its data is kept in base64, the form
// both JSON responses (GetRecords, SubscribeToShard events) carry, so that
// serving a record copies it instead of encoding it again; CBOR responses
// decode it.
type record struct {
	counter uint64
	seq     string
	pk      string
	data64  string // the data, base64-encoded
	dataLen int    // the data's length in bytes
	arrival time.Time
	kms     bool // written while the stream was encrypted
}

func (r *record) size() int { return r.dataLen + len(r.pk) }
