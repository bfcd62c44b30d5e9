package kinesistest

// Data-plane operations: PutRecord, PutRecords, GetShardIterator, GetRecords.
//
// Behavior:
//   - A record goes to the open shard whose hash key range holds its
//     ExplicitHashKey, or else the MD5 of its partition key read as a 128-bit
//     number. Sequence numbers have 56 digits, are unique in the stream, grow
//     with every record and compare as big integers (and as strings).
//   - A sequence number belongs to its stream and shard: given to
//     GetShardIterator (or SubscribeToShard) for a shard of another index, of
//     another stream, or of an earlier stream of the same name (deleted, then
//     created again), it is InvalidArgumentException, as is a malformed one.
//   - GetShardIterator takes a StartingSequenceNumber with AT_SEQUENCE_NUMBER
//     and AFTER_SEQUENCE_NUMBER and only with them, a Timestamp with
//     AT_TIMESTAMP and only with it: a missing one, or one given with another
//     type (a StartingSequenceNumber with TRIM_HORIZON, LATEST or
//     AT_TIMESTAMP, a Timestamp with any type but AT_TIMESTAMP), is
//     InvalidArgumentException ("Must either specify (1) AT_SEQUENCE_NUMBER or
//     AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or
//     LATEST and no StartingSequenceNumber ..."). An unknown type is
//     ValidationException.
//   - Shard iterators are opaque, expire 5 minutes after they were issued
//     (ExpiredIteratorException), and name the stream instance: an iterator of
//     a deleted stream is ResourceNotFoundException even if a stream of the
//     same name was created since.
//   - GetRecords returns at most Limit (default and maximum 10,000) records and
//     10 MiB. A Limit above 10,000 is InvalidArgumentException, as the API
//     reference says; below 1, ValidationException (the member's minimum).
//     MillisBehindLatest is 0 when the response reaches the tip of the shard
//     and at least 1 otherwise. At the end of a closed shard the response has
//     ChildShards and no NextShardIterator.
//   - AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER positions before the shard's
//     retention horizon (see Fake.Trim) are InvalidArgumentException, as is
//     an AT_TIMESTAMP later than the fake's clock ("The timestampInMillis
//     parameter cannot be greater than the currentTimestampInMillis").
//     SubscribeToShard's StartingPosition follows the same rules.
//   - With WithServiceLimits, the per-shard read and write limits apply (see
//     Limits) to GetShardIterator, GetRecords, PutRecord and PutRecords. The
//     helpers Put, PutWithHashKey and PutAggregated are not limited, and the
//     records they put do not count against the write limits.
//
// Not implemented: KMS encryption, SequenceNumberForOrdering semantics (it is
// accepted and ignored, as ordering within a shard already holds).

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type putRecordReq struct {
	streamRef
	PartitionKey              *string `json:"PartitionKey"`
	Data                      []byte  `json:"Data"`
	ExplicitHashKey           *string `json:"ExplicitHashKey"`
	SequenceNumberForOrdering *string `json:"SequenceNumberForOrdering"`
}

type putEntry struct {
	pk, ehk string
	hasEHK  bool
	data    []byte
}

// checkEntry validates one record to put; index is its 1-based position in a
// PutRecords call, or 0.
func checkEntry(e putEntry, index int) *apiError {
	field := ""
	if index > 0 {
		field = "records." + strconv.Itoa(index) + ".member."
	}
	if n := utf8.RuneCountInString(e.pk); n < 1 || n > 256 {
		return validation("1 validation error detected: Value at '%spartitionKey' failed to satisfy constraint: Member must have length between 1 and 256", field)
	}
	if len(e.data)+len(e.pk) > maxRecordBytes {
		return validation("1 validation error detected: Value at '%sdata' failed to satisfy constraint: Member must have length less than or equal to %d", field, maxRecordBytes)
	}
	if e.hasEHK {
		if _, ok := parseHashKey(e.ehk); !ok {
			return invalidArg("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", e.ehk)
		}
	}
	return nil
}

func opPutRecord(f *Fake, c *call, r *putRecordReq) (any, *apiError) {
	if r.Data == nil { // absent or null; "" decodes to an empty, non-nil slice
		return nil, validation("1 validation error detected: Value null at 'data' failed to satisfy constraint: Member must not be null")
	}
	e := putEntry{data: r.Data}
	if r.PartitionKey != nil {
		e.pk = *r.PartitionKey
	}
	if r.ExplicitHashKey != nil {
		e.ehk, e.hasEHK = *r.ExplicitHashKey, true
	}
	if err := checkEntry(e, 0); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	sh, rec, err := f.put(s, e, f.clock.Now(), true)
	if err != nil {
		return nil, err
	}
	return map[string]string{"ShardId": sh.id, "SequenceNumber": rec.seq, "EncryptionType": encryptionName(rec.kms)}, nil
}

// put stores one record and wakes the shard's subscriptions. Callers hold
// f.mu and have validated e. limited says whether the write limits of
// WithServiceLimits apply: they do to PutRecord and PutRecords, not to the
// helpers, which set up a test and are neither counted nor limited.
func (f *Fake) put(s *stream, e putEntry, now time.Time, limited bool) (*shard, *record, *apiError) {
	sh, rec, err := f.store(s, e, now, limited)
	if err == nil {
		sh.wake()
	}
	return sh, rec, err
}

// store stores one record without waking the shard's subscriptions: the
// caller wakes every shard it stored on before it releases f.mu. limited is
// as for put.
func (f *Fake) store(s *stream, e putEntry, now time.Time, limited bool) (*shard, *record, *apiError) {
	if err := s.ready(now); err != nil {
		return nil, nil, err
	}
	key := partitionHash(e.pk)
	if e.hasEHK {
		key, _ = parseHashKey(e.ehk)
	}
	sh := s.shardFor(key)
	if sh == nil {
		return nil, nil, errorf(CodeInternalFailure, "no open shard of %s holds hash key %s", s.name, key)
	}
	if err := f.reserve(e.size()); err != nil {
		return nil, nil, err
	}
	if limited && f.cfg.limits != nil && !sh.writes.allow(now, e.size(), f.cfg.limits) {
		return nil, nil, errorf(CodeThroughputExceeded, "Rate exceeded for shard %s in stream %s under account %s.", sh.id, s.name, f.cfg.account)
	}
	f.autoTrimShard(sh, now)
	c := s.nextSeq()
	sh.records = append(sh.records, record{counter: c, seq: sh.seq(c), pk: e.pk, data64: base64.StdEncoding.EncodeToString(e.data),
		dataLen: len(e.data), arrival: now, kms: s.encryptionAt(now) == "KMS"})
	f.stored += int64(e.size())
	return sh, &sh.records[len(sh.records)-1], nil
}

// size is what a record counts for in the write limits and MaxStoredBytes.
func (e putEntry) size() int { return len(e.data) + len(e.pk) }

// encryptionName is the EncryptionType of a record.
func encryptionName(kms bool) string {
	if kms {
		return "KMS"
	}
	return "NONE"
}

type putRecordsEntry struct {
	PartitionKey    *string `json:"PartitionKey"`
	Data            []byte  `json:"Data"`
	ExplicitHashKey *string `json:"ExplicitHashKey"`
}

type putRecordsReq struct {
	streamRef
	Records []putRecordsEntry `json:"Records"`
}

// decodeFast decodes a PutRecords body as clients write it: an object of
// Records, StreamName and StreamARN, records of Data, PartitionKey and
// ExplicitHashKey, all strings without escapes. encoding/json spends most
// of a PutRecords call on reflection; this is several times faster. Anything
// else (null, escapes, members spelt another way, repeated members...) goes
// to encoding/json, which has the last word on what a body means.
func (r *putRecordsReq) decodeFast(b []byte) bool {
	p := fastJSON{b: b}
	seen := 0
	ok := p.object(func(key []byte) bool {
		switch string(key) {
		case "StreamName":
			return p.once(&seen, 1) && p.stringPtr(&r.StreamName)
		case "StreamARN":
			return p.once(&seen, 2) && p.stringPtr(&r.StreamARN)
		case "Records":
			if !p.once(&seen, 4) || !p.next('[') {
				return false
			}
			r.Records = make([]putRecordsEntry, 0, 16)
			if p.peek() == ']' {
				p.i++
				return true
			}
			for {
				var e putRecordsEntry
				fields := 0
				if !p.object(func(key []byte) bool {
					switch string(key) {
					case "Data":
						return p.once(&fields, 1) && p.base64(&e.Data)
					case "PartitionKey":
						return p.once(&fields, 2) && p.stringPtr(&e.PartitionKey)
					case "ExplicitHashKey":
						return p.once(&fields, 4) && p.stringPtr(&e.ExplicitHashKey)
					}
					return false
				}) {
					return false
				}
				r.Records = append(r.Records, e)
				switch p.peek() {
				case ',':
					p.i++
				case ']':
					p.i++
					return true
				default:
					return false
				}
			}
		}
		return false
	})
	return ok && p.end()
}

// fastJSON is a scanner for the plain JSON subset decodeFast accepts.
type fastJSON struct {
	b []byte
	i int
}

func (p *fastJSON) skip() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (p *fastJSON) peek() byte {
	p.skip()
	if p.i == len(p.b) {
		return 0
	}
	return p.b[p.i]
}

func (p *fastJSON) next(c byte) bool {
	if p.peek() != c {
		return false
	}
	p.i++
	return true
}

func (p *fastJSON) end() bool { return p.peek() == 0 && p.i == len(p.b) }

// once marks bit in *seen, failing if it was set: a repeated member goes to
// encoding/json.
func (p *fastJSON) once(seen *int, bit int) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// str returns the bytes of a string without escapes, control characters or
// invalid UTF-8: its value as encoding/json would decode it.
func (p *fastJSON) str() ([]byte, bool) {
	if !p.next('"') {
		return nil, false
	}
	start := p.i
	ascii := true
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

func (p *fastJSON) stringPtr(dst **string) bool {
	s, ok := p.str()
	if ok {
		v := string(s)
		*dst = &v
	}
	return ok
}

// base64 decodes a blob as encoding/json does.
func (p *fastJSON) base64(dst *[]byte) bool {
	s, ok := p.str()
	if !ok {
		return false
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	if err != nil {
		return false
	}
	*dst = b[:n]
	return true
}

// object reads an object, calling member for each key with the scanner at
// its value.
func (p *fastJSON) object(member func(key []byte) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.peek() == '}' {
		p.i++
		return true
	}
	for {
		key, ok := p.str()
		if !ok || !p.next(':') || !member(key) {
			return false
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

type putRecordsResult struct {
	SequenceNumber string `json:"SequenceNumber,omitempty"`
	ShardId        string `json:"ShardId,omitempty"`
	ErrorCode      string `json:"ErrorCode,omitempty"`
	ErrorMessage   string `json:"ErrorMessage,omitempty"`
}

func opPutRecords(f *Fake, c *call, r *putRecordsReq) (any, *apiError) {
	if n := len(r.Records); n < 1 || n > maxPutRecordsCount {
		return nil, validation("1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and %d", maxPutRecordsCount)
	}
	entries := make([]putEntry, len(r.Records))
	total := 0
	for i, rec := range r.Records {
		if rec.Data == nil {
			return nil, validation("1 validation error detected: Value null at 'records.%d.member.data' failed to satisfy constraint: Member must not be null", i+1)
		}
		e := putEntry{data: rec.Data}
		if rec.PartitionKey != nil {
			e.pk = *rec.PartitionKey
		}
		if rec.ExplicitHashKey != nil {
			e.ehk, e.hasEHK = *rec.ExplicitHashKey, true
		}
		if err := checkEntry(e, i+1); err != nil {
			return nil, err
		}
		total += len(e.data) + len(e.pk)
		entries[i] = e
	}
	if total > maxPutRecordsBytes {
		return nil, invalidArg("Records size exceeds %d bytes", maxPutRecordsBytes)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	if err := s.ready(now); err != nil {
		return nil, err
	}
	if err := f.reserve(total); err != nil {
		return nil, err
	}
	out := &putRecordsResp{results: make([]putRecordsResult, len(entries)), encryption: s.encryptionAt(now)}
	var woken []*shard
	for i, e := range entries {
		if c.fault != nil && c.fault.kind == kindFailRecords && f.chance(c.fault.fraction) {
			out.results[i] = putRecordsResult{ErrorCode: c.fault.code, ErrorMessage: "injected failure"}
			out.failed++
			continue
		}
		sh, rec, err := f.store(s, e, now, true)
		if err != nil {
			out.results[i] = putRecordsResult{ErrorCode: err.code, ErrorMessage: err.message}
			out.failed++
			continue
		}
		out.results[i] = putRecordsResult{SequenceNumber: rec.seq, ShardId: sh.id}
		if !slices.Contains(woken, sh) {
			woken = append(woken, sh)
		}
	}
	for _, sh := range woken {
		sh.wake()
	}
	return out, nil
}

// putRecordsResp is encoded by hand, like getRecordsResp: PutRecords is the
// hot path of every producer benchmark.
type putRecordsResp struct {
	failed     int
	results    []putRecordsResult
	encryption string
}

func (r *putRecordsResp) appendJSON(b []byte) []byte {
	if size := 64 + 100*len(r.results); cap(b) < size {
		b = make([]byte, 0, size)
	}
	b = append(b, `{"FailedRecordCount":`...)
	b = strconv.AppendInt(b, int64(r.failed), 10)
	b = append(b, `,"EncryptionType":"`...)
	b = append(b, r.encryption...)
	b = append(b, `","Records":[`...)
	for i, res := range r.results {
		if i > 0 {
			b = append(b, ',')
		}
		if res.ErrorCode != "" {
			b = append(b, `{"ErrorCode":`...)
			b = appendJSONString(b, res.ErrorCode)
			b = append(b, `,"ErrorMessage":`...)
			b = appendJSONString(b, res.ErrorMessage)
			b = append(b, '}')
			continue
		}
		b = append(b, `{"SequenceNumber":"`...)
		b = append(b, res.SequenceNumber...)
		b = append(b, `","ShardId":"`...)
		b = append(b, res.ShardId...)
		b = append(b, `"}`...)
	}
	return append(b, "]}"...)
}

// iterator is the content of a shard iterator.
type iterator struct {
	stream string
	gen    uint64
	shard  int
	pos    uint64 // the counter of the next record to read
	issued int64  // clock time, in ns
}

func (it iterator) encode() string {
	b := make([]byte, 0, 96)
	b = append(b, it.stream...)
	b = append(b, 0)
	b = strconv.AppendUint(b, it.gen, 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(it.shard), 10)
	b = append(b, 0)
	b = strconv.AppendUint(b, it.pos, 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, it.issued, 10)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeIterator(s string) (iterator, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return iterator{}, false
	}
	parts := strings.Split(string(b), "\x00")
	if len(parts) != 5 {
		return iterator{}, false
	}
	var it iterator
	var e1, e2, e3, e4 error
	it.stream = parts[0]
	it.gen, e1 = strconv.ParseUint(parts[1], 10, 64)
	it.shard, e2 = strconv.Atoi(parts[2])
	it.pos, e3 = strconv.ParseUint(parts[3], 10, 64)
	it.issued, e4 = strconv.ParseInt(parts[4], 10, 64)
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil || it.shard < 0 {
		return iterator{}, false
	}
	return it, true
}

type getShardIteratorReq struct {
	streamRef
	ShardId                *string `json:"ShardId"`
	ShardIteratorType      *string `json:"ShardIteratorType"`
	StartingSequenceNumber *string `json:"StartingSequenceNumber"`
	Timestamp              *epoch  `json:"Timestamp"`
}

func (r *getShardIteratorReq) keys(f *Fake) Match {
	m := r.streamRef.keys(f)
	if r.ShardId != nil {
		m.Shard = *r.ShardId
	}
	return m
}

func opGetShardIterator(f *Fake, c *call, r *getShardIteratorReq) (any, *apiError) {
	if r.ShardId == nil || r.ShardIteratorType == nil {
		return nil, validation("ShardId and ShardIteratorType are required")
	}
	if err := checkIteratorType(*r.ShardIteratorType); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	if err := s.ready(now); err != nil {
		return nil, err
	}
	sh := s.byID[*r.ShardId]
	if sh != nil {
		f.autoTrimShard(sh, now)
	}
	if sh == nil || sh.gone {
		return nil, notFound("Shard %s in stream %s under account %s does not exist", *r.ShardId, s.name, f.cfg.account)
	}
	start := startArgs{op: "GetShardIterator", seqField: "StartingSequenceNumber", typ: *r.ShardIteratorType, seq: r.StartingSequenceNumber, ts: r.Timestamp}
	if err := start.check(); err != nil {
		return nil, err
	}
	if f.cfg.limits != nil && !sh.reads.allowIterator(now, f.cfg.limits) {
		return nil, errorf(CodeThroughputExceeded, "Rate exceeded for shard %s in stream %s under account %s.", sh.id, s.name, f.cfg.account)
	}
	pos, err := f.position(sh, start)
	if err != nil {
		return nil, err
	}
	it := iterator{stream: s.name, gen: s.gen, shard: sh.index, pos: pos, issued: now.UnixNano()}
	return map[string]string{"ShardIterator": it.encode()}, nil
}

// checkIteratorType validates a shard iterator type (GetShardIterator's
// ShardIteratorType, SubscribeToShard's StartingPosition.Type).
func checkIteratorType(typ string) *apiError {
	switch typ {
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP":
		return nil
	}
	return validation("1 validation error detected: Value '%s' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]", typ)
}

// startArgs is a starting position as GetShardIterator or SubscribeToShard
// gives it.
type startArgs struct {
	op       string // the operation, for messages
	seqField string // the name of its sequence number parameter
	typ      string // a valid iterator type (see checkIteratorType)
	seq      *string
	ts       *epoch
}

// check refuses parameters that do not go with the type, as the service
// does: a sequence number is given with AT_SEQUENCE_NUMBER and
// AFTER_SEQUENCE_NUMBER and only with them, a timestamp with AT_TIMESTAMP
// and only with it.
func (a startArgs) check() *apiError {
	bySeq := a.typ == "AT_SEQUENCE_NUMBER" || a.typ == "AFTER_SEQUENCE_NUMBER"
	switch {
	case bySeq && a.seq == nil:
		return invalidArg("Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and %[1]s or (2) TRIM_HORIZON or LATEST and no %[1]s. Request specified %[2]s and no %[1]s.", a.seqField, a.typ)
	case !bySeq && a.seq != nil:
		return invalidArg("Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and %[1]s or (2) TRIM_HORIZON or LATEST and no %[1]s. Request specified %[2]s and also a %[1]s.", a.seqField, a.typ)
	case a.typ == "AT_TIMESTAMP" && a.ts == nil:
		return invalidArg("Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
	case a.typ != "AT_TIMESTAMP" && a.ts != nil:
		return invalidArg("Must not specify timestampInMillis parameter for iterator of type %s: a Timestamp goes with AT_TIMESTAMP only.", a.typ)
	}
	return nil
}

// position turns a starting position, checked by startArgs.check, into the
// counter of the next record of sh to read. Callers hold f.mu.
func (f *Fake) position(sh *shard, a startArgs) (uint64, *apiError) {
	s := sh.stream
	switch a.typ {
	case "TRIM_HORIZON":
		return sh.startCounter, nil
	case "LATEST":
		return s.counter + 1, nil
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		seq := *a.seq
		tag, c, idx, ok := parseSeq(seq)
		switch {
		case !ok:
			return 0, invalidArg("%s %s used in %s on shard %s in stream %s under account %s is invalid.", a.seqField, seq, a.op, sh.id, s.name, f.cfg.account)
		case idx != sh.index:
			return 0, invalidArg("Invalid %s. It encodes shardId-%012d, while it was used in a call to a shard with %s", a.seqField, idx, sh.id)
		case tag != s.gen || c < sh.startCounter || (!sh.open() && c > sh.endCounter):
			// Another stream's, an earlier stream's of the same name, or
			// never in this shard.
			return 0, invalidArg("%s %s used in %s on shard %s in stream %s under account %s is invalid because it did not come from this stream.", a.seqField, seq, a.op, sh.id, s.name, f.cfg.account)
		}
		if a.typ == "AFTER_SEQUENCE_NUMBER" {
			c++
		}
		if c < sh.trimmedBelow {
			return 0, invalidArg("%s %s used in %s on shard %s in stream %s is invalid: the record is past the stream's retention period (trim horizon)", a.seqField, seq, a.op, sh.id, s.name)
		}
		return c, nil
	default: // AT_TIMESTAMP
		if now := f.clock.Now(); a.ts.Time.After(now) {
			// The service judges the timestamp against its own clock.
			return 0, invalidArg("The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: %d, currentTimestampInMillis: %d", a.ts.Time.UnixMilli(), now.UnixMilli())
		}
		// arrival times never decrease along a shard
		i := sort.Search(len(sh.records), func(i int) bool { return !sh.records[i].arrival.Before(a.ts.Time) })
		if i < len(sh.records) {
			return sh.records[i].counter, nil
		}
		return s.counter + 1, nil
	}
}

type getRecordsReq struct {
	ShardIterator *string `json:"ShardIterator"`
	Limit         *int    `json:"Limit"`
	StreamARN     *string `json:"StreamARN"`
}

func (r *getRecordsReq) keys(f *Fake) Match {
	if r.ShardIterator == nil {
		return Match{}
	}
	it, ok := decodeIterator(*r.ShardIterator)
	if !ok {
		return Match{}
	}
	return Match{Stream: it.stream, Shard: fmt.Sprintf("shardId-%012d", it.shard)}
}

// getRecordsResp is encoded by hand: GetRecords is the hot path of every
// consumer benchmark.
type getRecordsResp struct {
	records  []record
	next     string
	behind   int64
	children []childShard
}

type childShard struct {
	ShardId      string   `json:"ShardId"`
	ParentShards []string `json:"ParentShards"`
	HashKeyRange struct {
		StartingHashKey string `json:"StartingHashKey"`
		EndingHashKey   string `json:"EndingHashKey"`
	} `json:"HashKeyRange"`
}

func opGetRecords(f *Fake, c *call, r *getRecordsReq) (any, *apiError) {
	if r.ShardIterator == nil {
		return nil, validation("1 validation error detected: Value null at 'shardIterator' failed to satisfy constraint: Member must not be null")
	}
	limit := maxGetRecordsLimit
	if r.Limit != nil {
		if *r.Limit < 1 {
			return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *r.Limit)
		}
		if *r.Limit > maxGetRecordsLimit {
			return nil, invalidArg("Limit %d is greater than %d", *r.Limit, maxGetRecordsLimit)
		}
		limit = *r.Limit
	}
	it, ok := decodeIterator(*r.ShardIterator)
	if !ok {
		return nil, invalidArg("Invalid ShardIterator.")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.streams[it.stream]
	if s == nil || s.gen != it.gen || it.shard >= len(s.shards) {
		return nil, notFound("Stream %s under account %s not found.", it.stream, f.cfg.account)
	}
	if r.StreamARN != nil && *r.StreamARN != s.arn {
		return nil, invalidArg("StreamARN %s does not match the shard iterator", *r.StreamARN)
	}
	sh := s.shards[it.shard]
	now := f.clock.Now()
	if now.Sub(time.Unix(0, it.issued)) > iteratorLifetime {
		return nil, errorf(CodeExpiredIterator, "Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of 300000 milliseconds.", time.Unix(0, it.issued).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	f.autoTrimShard(sh, now)
	if sh.gone {
		return nil, notFound("Shard %s in stream %s under account %s does not exist", sh.id, s.name, f.cfg.account)
	}
	if f.cfg.limits != nil && !sh.reads.allowCall(now, f.cfg.limits) {
		return nil, errorf(CodeThroughputExceeded, "Rate exceeded for shard %s in stream %s under account %s.", sh.id, s.name, f.cfg.account)
	}
	i := sh.indexAt(it.pos)
	j, bytes := i, 0
	for j < len(sh.records) && j-i < limit {
		n := sh.records[j].size()
		if bytes+n > maxGetRecordsBytes && j > i {
			break
		}
		bytes += n
		j++
	}
	resp := &getRecordsResp{records: sh.records[i:j]}
	if f.cfg.limits != nil {
		sh.reads.charge(now, bytes, f.cfg.limits)
	}
	next := it.pos
	if j > i {
		next = sh.records[j-1].counter + 1
	}
	switch {
	case sh.atEnd(next):
		resp.children = s.childShards(sh)
	default:
		resp.next = iterator{stream: s.name, gen: s.gen, shard: sh.index, pos: next, issued: now.UnixNano()}.encode()
	}
	if j < len(sh.records) {
		resp.behind = max(1, now.Sub(sh.records[j].arrival).Milliseconds())
	}
	return resp, nil
}

// childShards describes the children of sh. Callers hold f.mu.
func (s *stream) childShards(sh *shard) []childShard {
	out := make([]childShard, 0, len(sh.children))
	for _, id := range sh.children {
		ch := s.byID[id]
		var cs childShard
		cs.ShardId = ch.id
		cs.ParentShards = []string{ch.parent}
		if ch.adjacent != "" {
			cs.ParentShards = append(cs.ParentShards, ch.adjacent)
		}
		cs.HashKeyRange.StartingHashKey = ch.loStr
		cs.HashKeyRange.EndingHashKey = ch.hiStr
		out = append(out, cs)
	}
	return out
}

func (r *getRecordsResp) appendJSON(b []byte) []byte {
	var children []byte
	if r.children != nil {
		children = childShardsJSON(r.children)
	}
	size := len(`{"Records":`) + recordsJSONLen(r.records) +
		len(`,"MillisBehindLatest":`) + maxIntLen +
		len(`,"NextShardIterator":""`) + len(r.next) +
		len(`,"ChildShards":`) + len(children) + len(`}`)
	if cap(b)-len(b) < size {
		b = append(make([]byte, 0, len(b)+size), b...)
	}
	b = append(b, `{"Records":`...)
	b = appendRecordsJSON(b, r.records)
	b = append(b, `,"MillisBehindLatest":`...)
	b = strconv.AppendInt(b, r.behind, 10)
	if r.next != "" {
		b = append(b, `,"NextShardIterator":"`...)
		b = append(b, r.next...)
		b = append(b, '"')
	}
	if r.children != nil {
		b = append(b, `,"ChildShards":`...)
		b = append(b, children...)
	}
	return append(b, '}')
}

// Bounds of what the hand-written encoders write, to size their buffers
// once.
const (
	// maxIntLen is the longest int64 in decimal, sign included.
	maxIntLen = 20
	// maxEpochLen is the longest timestamp appendEpoch writes: whole
	// seconds, a point and 3 digits.
	maxEpochLen = maxIntLen + 1 + 3
	// recordJSONOverhead is what appendRecordsJSON writes around the
	// fields of a record, the comma before the next included.
	recordJSONOverhead = len(`{"SequenceNumber":"`) + len(`","ApproximateArrivalTimestamp":`) +
		len(`,"Data":"`) + len(`","PartitionKey":`) + len(`}`) + len(`,`)
)

// kmsJSON is the member of a record written while its stream was
// encrypted.
const kmsJSON = `,"EncryptionType":"KMS"`

// recordsJSONLen bounds the length of what appendRecordsJSON writes for
// records: the array's brackets, then for each record the names and
// punctuation, its sequence number, the longest timestamp, the base64 of its
// data (padding included) and its partition key as a JSON string.
func recordsJSONLen(records []record) int {
	n := len(`[]`)
	for i := range records {
		r := &records[i]
		n += recordJSONOverhead + len(r.seq) + maxEpochLen +
			len(r.data64) + jsonStringLen(r.pk)
		if r.kms {
			n += len(kmsJSON)
		}
	}
	return n
}

// appendRecordsJSON appends records as a JSON array of Kinesis records.
func appendRecordsJSON(b []byte, records []record) []byte {
	b = append(b, '[')
	for i := range records {
		rec := &records[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"SequenceNumber":"`...)
		b = append(b, rec.seq...)
		b = append(b, `","ApproximateArrivalTimestamp":`...)
		b = appendEpoch(b, rec.arrival)
		b = append(b, `,"Data":"`...)
		b = append(b, rec.data64...)
		b = append(b, `","PartitionKey":`...)
		b = appendJSONString(b, rec.pk)
		if rec.kms {
			b = append(b, kmsJSON...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// childShardsJSON encodes children as a JSON array, [] for none.
func childShardsJSON(children []childShard) []byte {
	if children == nil {
		children = []childShard{}
	}
	cs, _ := json.Marshal(children)
	return cs
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	if needsEscape(s) {
		q, _ := json.Marshal(s)
		return append(b, q...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// needsEscape reports whether appendJSONString hands s to encoding/json.
func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return true
		}
	}
	return false
}

// jsonStringLen bounds the length of what appendJSONString writes for s:
// s in quotes, or, when encoding/json escapes it, at most 6 bytes for each
// byte of s (\u00XX for a control character, \ufffd for an invalid byte,
// \u2028 for the 3 bytes of U+2028) in quotes.
func jsonStringLen(s string) int {
	if needsEscape(s) {
		return 6*len(s) + 2
	}
	return len(s) + 2
}
