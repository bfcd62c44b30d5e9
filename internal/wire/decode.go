package wire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	vecbase64 "github.com/segmentio/asm/base64"
)

// ErrMalformed is wrapped by every error for a response body or event
// payload that is not what the service sends: bad JSON, a field of the
// wrong type, invalid base64 in a record's Data, a timestamp that is not a
// number.
var ErrMalformed = errors.New("wire: malformed Kinesis response")

// DecodeGetRecords decodes the body of a successful GetRecords response into
// out, setting every field the SDK's decoder sets and leaving
// ResultMetadata alone. An empty body leaves out as it is, as with the SDK.
// On error (wrapping ErrMalformed) out is not changed.
func DecodeGetRecords(body []byte, out *kinesis.GetRecordsOutput) error {
	if len(body) == 0 {
		return nil
	}
	v, err := decodeDoc(body, "NextShardIterator")
	if err != nil {
		return err
	}
	out.Records, out.NextShardIterator, out.MillisBehindLatest, out.ChildShards = v.records, v.str, v.millis, v.children
	return nil
}

// DecodeSubscribeToShardEvent decodes the JSON payload of a
// SubscribeToShardEvent event stream message into out, setting every field
// the SDK's decoder sets. On error (wrapping ErrMalformed) out is not
// changed.
func DecodeSubscribeToShardEvent(payload []byte, out *types.SubscribeToShardEvent) error {
	v, err := decodeDoc(payload, "ContinuationSequenceNumber")
	if err != nil {
		return err
	}
	out.Records, out.ContinuationSequenceNumber, out.MillisBehindLatest, out.ChildShards = v.records, v.str, v.millis, v.children
	return nil
}

// decoded is a decoded document: a GetRecords body or a
// SubscribeToShardEvent payload.
type decoded struct {
	records  []types.Record
	str      *string
	millis   *int64
	children []types.ChildShard
}

// decodeDoc decodes a document whose string member besides those of records
// and child shards is named strKey.
func decodeDoc(doc []byte, strKey string) (decoded, error) {
	d := getDecoder()
	defer d.release()
	var t top
	if err := d.decode(doc, &t, strKey); err != nil {
		return decoded{}, err
	}
	recs, str, err := d.materialize(&t)
	if err != nil {
		return decoded{}, err
	}
	return decoded{records: recs, str: str, millis: t.millis, children: t.children}, nil
}

// top is what the first pass found at the top of a document, the records
// aside (they are in decoder.recs).
type top struct {
	// records is true when a Records list was read (even empty).
	records bool
	// str is NextShardIterator or ContinuationSequenceNumber.
	str      span
	millis   *int64
	children []types.ChildShard
}

// rec is what the first pass found in one record: where its strings lie in
// the document, and its arrival time in milliseconds (hasTS when set).
type rec struct {
	seq, pk, data, enc span
	ms                 int64
	hasTS              bool
}

// decoder decodes one document in two passes. The first checks the whole
// document and notes where each record's fields lie; the second sizes one
// allocation for each kind of output (records, strings, *string targets,
// times, data) and fills them, so that the number of allocations does not
// grow with the number of records.
type decoder struct {
	scanner
	recs []rec
	// blob receives the base64 of Data that is decoded only to be checked.
	blob []byte
}

// Bounds of what a decoder keeps for its next use.
const (
	maxPooledRecs = 1 << 16
	maxPooledBuf  = 1 << 16
)

var decoders = sync.Pool{New: func() any { return new(decoder) }}

func getDecoder() *decoder { return decoders.Get().(*decoder) }

// release returns the decoder to the pool, dropping its references to the
// document and anything too big to keep.
func (d *decoder) release() {
	d.b = nil
	if cap(d.recs) > maxPooledRecs {
		d.recs = nil
	}
	if cap(d.tmp) > maxPooledBuf {
		d.tmp = nil
	}
	if cap(d.blob) > maxPooledBuf {
		d.blob = nil
	}
	if cap(d.stack) > maxPooledBuf {
		d.stack = nil
	}
	decoders.Put(d)
}

// decode runs the first pass over doc: a GetRecords body or a
// SubscribeToShardEvent payload, whose one string member (besides those of
// records and child shards) is named strKey.
func (d *decoder) decode(doc []byte, t *top, strKey string) error {
	d.b, d.i, d.depth = doc, 0, 0
	d.recs = d.recs[:0]
	c, err := d.peek()
	if err != nil {
		return err
	}
	if c == 'n' {
		// The SDK reads a null document as an empty struct, then fails
		// looking for its first member.
		if err := d.literal("null"); err != nil {
			return err
		}
		return fmt.Errorf("%w: null instead of an object", ErrMalformed)
	}
	return d.object(func(name []byte) (err error) {
		switch {
		case string(name) == "Records":
			if t.records {
				// The SDK decodes a repeated member again and keeps the
				// last: the records read so far must be valid.
				if err := d.checkData(d.recs); err != nil {
					return err
				}
				d.recs = d.recs[:0]
			}
			t.records = true
			return d.records()
		case string(name) == strKey:
			t.str, err = d.str()
		case string(name) == "MillisBehindLatest":
			var v int64
			if v, err = d.int64(); err == nil {
				t.millis = &v
			}
		case string(name) == "ChildShards":
			t.children, err = d.childShards()
		default:
			err = d.skipValue()
		}
		return err
	})
}

// object reads the object that comes next, calling member for each member
// whose value is not null, as the SDK skips nulls, with the member's name
// unescaped (valid until member reads a string). member must read the value
// (skipValue for an unknown member).
func (d *decoder) object(member func(name []byte) error) error {
	if err := d.openObject(); err != nil {
		return err
	}
	for first := true; ; first = false {
		key, more, err := d.member(first)
		if err != nil || !more {
			return err
		}
		name := d.text(key)
		isNull, err := d.null()
		if err != nil {
			return err
		}
		if isNull {
			continue
		}
		if err := member(name); err != nil {
			return err
		}
	}
}

// list reads the array that comes next, calling elem for each element,
// null elements included: for those, isNull is true and the null is
// already read; otherwise elem must read the element.
func (d *decoder) list(elem func(isNull bool) error) error {
	if err := d.openArray(); err != nil {
		return err
	}
	for first := true; ; first = false {
		more, err := d.element(first)
		if err != nil || !more {
			return err
		}
		isNull, err := d.null()
		if err != nil {
			return err
		}
		if err := elem(isNull); err != nil {
			return err
		}
	}
}

// records reads a list of records into d.recs; a null record has no
// fields, as the SDK makes it.
func (d *decoder) records() error {
	return d.list(func(isNull bool) error {
		d.recs = append(d.recs, rec{})
		if isNull {
			return nil
		}
		return d.record(&d.recs[len(d.recs)-1])
	})
}

// record reads one record object.
func (d *decoder) record(r *rec) error {
	return d.object(func(name []byte) (err error) {
		switch string(name) {
		case "SequenceNumber":
			r.seq, err = d.str()
		case "PartitionKey":
			r.pk, err = d.str()
		case "Data":
			if r.data.set {
				if err := d.checkBlob(r.data); err != nil {
					return err
				}
			}
			// Every Data read is decoded (materialize) or checked
			// (checkBlob, checkData): blobStr may leave control characters
			// and non-ASCII bytes to that.
			r.data, err = d.blobStr()
		case "ApproximateArrivalTimestamp":
			r.ms, err = d.epochMillis()
			r.hasTS = true
		case "EncryptionType":
			r.enc, err = d.str()
		default:
			err = d.skipValue()
		}
		return err
	})
}

// int64 reads an integer as the SDK does (see parseInt).
func (d *decoder) int64() (int64, error) {
	c, err := d.peek()
	if err != nil {
		return 0, err
	}
	if c == '"' || c == '{' || c == '[' || c == 't' || c == 'f' {
		return 0, d.errorf("expected an integer, found %q", c)
	}
	tok, err := d.number()
	if err != nil {
		return 0, err
	}
	v, ok := parseInt(tok)
	if !ok {
		return 0, d.errorf("invalid integer %s", tok)
	}
	return v, nil
}

// parseInt reads a JSON number as an int64 the way the SDK does: digits
// with an optional minus sign, within the range of int64, except that,
// like the SDK, it stops at the first digits that make -2^63 and takes
// that value whatever follows.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	const limit = math.MaxUint64/10 + 1
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' || n >= limit {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > math.MaxInt64 {
			if neg && n == math.MaxInt64+1 {
				return math.MinInt64, true
			}
			return 0, false
		}
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// pow10 are the powers of ten a float64 holds exactly, up to 10^15.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseDecimal reads a JSON number of the form the service writes its
// timestamps in, digits, a point and digits, with at most 15 digits in all,
// and returns what strconv.ParseFloat returns for it; ok is false for any
// other number. Such a number is N / 10^k with N below 2^52 and 10^k exact,
// so the quotient rounded once, an IEEE division, is the correctly rounded
// value ParseFloat returns, bit for bit (its own exact path computes it so).
func parseDecimal(b []byte) (float64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var n uint64
	digits, frac := 0, -1
	for i, c := range b {
		switch {
		case '0' <= c && c <= '9':
			n = n*10 + uint64(c-'0')
			digits++
		case c == '.' && frac < 0 && i > 0:
			frac = len(b) - i - 1
		default:
			return 0, false
		}
	}
	if frac < 1 || digits > 15 {
		return 0, false
	}
	f := float64(n) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true
}

// Bounds of int64 as float64: 2^63 and -2^63.
const (
	twoTo63    = float64(1 << 63)
	negTwoTo63 = -float64(1 << 63)
)

// epochMillis reads a timestamp in epoch seconds and returns it in whole
// milliseconds exactly as the SDK computes them: the seconds times 1000
// rounded to 53 bits, truncated towards zero, saturated to the range of
// int64. Besides numbers, the SDK takes the strings "Infinity" and
// "-Infinity" in any case; it panics on "NaN", which is an error here.
func (d *decoder) epochMillis() (int64, error) {
	c, err := d.peek()
	if err != nil {
		return 0, err
	}
	var v float64
	switch c {
	case '"':
		s, err := d.strAt()
		if err != nil {
			return 0, err
		}
		switch t := d.text(s); {
		case bytes.EqualFold(t, []byte("Infinity")):
			v = math.Inf(1)
		case bytes.EqualFold(t, []byte("-Infinity")):
			v = math.Inf(-1)
		default:
			return 0, d.errorf("timestamp %q is not a number", t)
		}
	case '{', '[', 't', 'f':
		return 0, d.errorf("expected a timestamp, found %q", c)
	default:
		tok, err := d.number()
		if err != nil {
			return 0, err
		}
		if n, ok := parseInt(tok); ok {
			v = float64(n)
		} else if f, ok := parseDecimal(tok); ok {
			v = f
		} else if v, err = strconv.ParseFloat(string(tok), 64); err != nil {
			return 0, d.errorf("invalid timestamp %s", tok)
		}
	}
	ms := v * 1000
	switch {
	case ms >= twoTo63:
		return math.MaxInt64, nil
	case ms < negTwoTo63:
		return math.MinInt64, nil
	}
	return int64(ms), nil
}

// childShards reads a list of child shards. They are few (two at most in
// practice) and allocated one by one, as the SDK does.
func (d *decoder) childShards() ([]types.ChildShard, error) {
	out := make([]types.ChildShard, 0)
	err := d.list(func(isNull bool) error {
		var cs types.ChildShard
		if !isNull {
			if err := d.childShard(&cs); err != nil {
				return err
			}
		}
		out = append(out, cs)
		return nil
	})
	return out, err
}

func (d *decoder) childShard(cs *types.ChildShard) error {
	return d.object(func(name []byte) (err error) {
		switch string(name) {
		case "ShardId":
			cs.ShardId, err = d.newString()
		case "ParentShards":
			cs.ParentShards, err = d.stringList()
		case "HashKeyRange":
			cs.HashKeyRange = &types.HashKeyRange{}
			err = d.hashKeyRange(cs.HashKeyRange)
		default:
			err = d.skipValue()
		}
		return err
	})
}

func (d *decoder) hashKeyRange(h *types.HashKeyRange) error {
	return d.object(func(name []byte) (err error) {
		switch string(name) {
		case "StartingHashKey":
			h.StartingHashKey, err = d.newString()
		case "EndingHashKey":
			h.EndingHashKey, err = d.newString()
		default:
			err = d.skipValue()
		}
		return err
	})
}

// stringList reads a list of strings; a null element is an empty string,
// as with the SDK.
func (d *decoder) stringList() ([]string, error) {
	out := make([]string, 0)
	err := d.list(func(isNull bool) error {
		var s string
		if !isNull {
			sp, err := d.str()
			if err != nil {
				return err
			}
			s = string(d.text(sp))
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// newString reads a string into a new allocation.
func (d *decoder) newString() (*string, error) {
	sp, err := d.str()
	if err != nil {
		return nil, err
	}
	s := string(d.text(sp))
	return &s, nil
}

// checkData checks that the Data of recs is valid base64, for records the
// SDK would have decoded before dropping them.
func (d *decoder) checkData(recs []rec) error {
	for i := range recs {
		if recs[i].data.set {
			if err := d.checkBlob(recs[i].data); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBlob checks that a string is valid base64.
func (d *decoder) checkBlob(s span) error {
	src := d.text(s)
	d.blob = growTo(d.blob, base64.StdEncoding.DecodedLen(len(src)))
	if _, err := decodeBase64(d.blob, src); err != nil {
		return fmt.Errorf("%w: decode base64 Data: %w", ErrMalformed, err)
	}
	return nil
}

// decodeBase64 decodes src, standard base64 with padding, into dst, which
// must hold base64.StdEncoding.DecodedLen(len(src)) bytes (the vector
// decoder writes whole blocks, up to 8 bytes past what it decoded, within
// that length). It decodes with the vector instructions of
// github.com/segmentio/asm where the CPU has them (AVX2, NEON), about three
// times as fast as encoding/base64, to the same bytes: both skip newlines
// and carriage returns, and the vector decoder hands what it does not take
// to encoding/base64. An error is reported as encoding/base64 (and so the
// SDK) reports it, its offset counted from the start of src.
func decodeBase64(dst, src []byte) (int, error) {
	n, err := vecbase64.StdEncoding.Decode(dst, src)
	if err != nil {
		// The vector decoder counts the offset from where it handed over.
		return base64.StdEncoding.Decode(dst, src)
	}
	return n, nil
}

// growTo returns b with length n, reallocated if too small.
func growTo(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// interned returns the EncryptionType constant that s spells, if any.
func interned(s []byte) (types.EncryptionType, bool) {
	switch string(s) {
	case string(types.EncryptionTypeNone):
		return types.EncryptionTypeNone, true
	case string(types.EncryptionTypeKms):
		return types.EncryptionTypeKms, true
	}
	return "", false
}

// materialize runs the second pass: it builds the records the first pass
// found and the top-level string t.str, from one allocation of each kind.
func (d *decoder) materialize(t *top) ([]types.Record, *string, error) {
	// Size everything first.
	var nstr, ntimes, strLen, dataLen int
	if t.str.set {
		nstr++
		strLen += unquotedLen(t.str)
	}
	for i := range d.recs {
		r := &d.recs[i]
		if r.seq.set {
			nstr++
			strLen += unquotedLen(r.seq)
		}
		if r.pk.set {
			nstr++
			strLen += unquotedLen(r.pk)
		}
		if r.enc.set {
			if _, ok := interned(d.bytes(r.enc)); !ok || r.enc.esc {
				strLen += unquotedLen(r.enc)
			}
		}
		if r.hasTS {
			ntimes++
		}
		if r.data.set {
			dataLen += base64.StdEncoding.DecodedLen(r.data.len())
		}
	}
	strs := make([]string, nstr)
	times := make([]time.Time, ntimes)
	data := make([]byte, dataLen)
	var sb strings.Builder
	sb.Grow(strLen)
	// text appends a string span to sb and returns it as a string.
	text := func(s span) string {
		start := sb.Len()
		if s.esc {
			d.tmp = appendUnquoted(d.tmp[:0], d.bytes(s))
			sb.Write(d.tmp)
		} else {
			sb.Write(d.bytes(s))
		}
		return sb.String()[start:]
	}
	var str *string
	if t.str.set {
		strs[0] = text(t.str)
		str = &strs[0]
		strs = strs[1:]
	}
	var recs []types.Record
	if t.records {
		recs = make([]types.Record, len(d.recs))
	}
	for i := range d.recs {
		r, out := &d.recs[i], &recs[i]
		if r.seq.set {
			strs[0] = text(r.seq)
			out.SequenceNumber = &strs[0]
			strs = strs[1:]
		}
		if r.pk.set {
			strs[0] = text(r.pk)
			out.PartitionKey = &strs[0]
			strs = strs[1:]
		}
		if r.enc.set {
			if e, ok := interned(d.bytes(r.enc)); ok && !r.enc.esc {
				out.EncryptionType = e
			} else {
				out.EncryptionType = types.EncryptionType(text(r.enc))
			}
		}
		if r.hasTS {
			times[0] = time.Unix(0, r.ms*1e6).UTC()
			out.ApproximateArrivalTimestamp = &times[0]
			times = times[1:]
		}
		if r.data.set {
			src := d.bytes(r.data)
			if r.data.esc {
				d.tmp = appendUnquoted(d.tmp[:0], src)
				src = d.tmp
			}
			dst := data
			aside := base64.StdEncoding.DecodedLen(len(src)) > len(data)
			if aside {
				// Only escapes that grow (invalid UTF-8) get here, and
				// they are not base64: decode aside to report the error.
				dst = make([]byte, base64.StdEncoding.DecodedLen(len(src)))
			}
			n, err := decodeBase64(dst, src)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: record %d: decode base64 Data: %w", ErrMalformed, i, err)
			}
			out.Data = dst[:n:n]
			if !aside {
				data = data[n:]
			}
		}
	}
	return recs, str, nil
}
