package wire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// edgeCases are bodies the service does not send but a decoder must read as
// the SDK does: every output field equal, or both failing. ok says whether
// they decode (checked so that a case cannot pass by both failing for a
// reason it did not mean to test).
var edgeCases = []struct {
	name string
	body string
	ok   bool
}{
	{"empty body", ``, true},
	{"empty object", `{}`, true},
	{"all top-level fields", `{"Records":[],"NextShardIterator":"AAAA","MillisBehindLatest":1234,"ChildShards":[]}`, true},
	{"typical record", `{"Records":[{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ApproximateArrivalTimestamp":1700000000.123,"Data":"aGVsbG8gd29ybGQ=","PartitionKey":"pk-1"}],"NextShardIterator":"it","MillisBehindLatest":0}`, true},
	{"record with every field", `{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":1.5,"Data":"AQID","PartitionKey":"k","EncryptionType":"KMS"}]}`, true},
	{"null record", `{"Records":[null,{"Data":"QQ=="},null]}`, true},
	{"null fields", `{"Records":[{"SequenceNumber":null,"Data":null,"PartitionKey":null,"ApproximateArrivalTimestamp":null,"EncryptionType":null}],"NextShardIterator":null,"MillisBehindLatest":null,"ChildShards":null}`, true},
	{"null Records", `{"Records":null}`, true},
	{"missing fields", `{"Records":[{},{}]}`, true},
	{"empty data", `{"Records":[{"Data":""},{"Data":"","PartitionKey":""}]}`, true},
	{"escapes", `{"Records":[{"PartitionKey":"a\"b\\c\/d\b\f\n\r\t\u00e9\u4e2d\ud83d\ude00z","SequenceNumber":"\u0031\u0032"}]}`, true},
	{"lone surrogates", `{"Records":[{"PartitionKey":"\ud800"},{"PartitionKey":"\ud800\u0041"},{"PartitionKey":"\udc00x"},{"PartitionKey":"\ud800\ud800"},{"PartitionKey":"\udbff\udfff"},{"PartitionKey":"\ud800\\u"}]}`, true},
	{"raw unicode", `{"Records":[{"PartitionKey":"héllo 中文 😀"}]}`, true},
	{"raw invalid UTF-8", "{\"Records\":[{\"PartitionKey\":\"a\xff\xfeb\"}]}", true},
	{"invalid UTF-8 with an escape", "{\"Records\":[{\"PartitionKey\":\"a\xff\\n\xed\xa0\x80\"}]}", true},
	{"escaped member names", `{"\u0052ecords":[{"\u0044ata":"QQ==","Partition\u004bey":"k"}],"Next\u0053hardIterator":"x"}`, true},
	{"unknown fields", `{"x":{"a":[1,2,{"b":null}],"c":true},"Records":[{"Data":"QQ==","Extra":[[],{}],"Other":-1.5e+3}],"y":"\u0041","z":false}`, true},
	{"whitespace", " \t\n\r{ \"Records\" : [ { \"Data\" : \"QQ==\" , \"PartitionKey\"\n:\r\"k\" } , null ] , \"MillisBehindLatest\" :\t7 } \n", true},
	{"trailing bytes ignored", `{"MillisBehindLatest":1}xyz`, true},
	{"trailing brace ignored", `{}}`, true},
	{"timestamps", `{"Records":[{"ApproximateArrivalTimestamp":1700000000},{"ApproximateArrivalTimestamp":1.7e9},{"ApproximateArrivalTimestamp":1.7E+9},{"ApproximateArrivalTimestamp":-1.5},{"ApproximateArrivalTimestamp":0},{"ApproximateArrivalTimestamp":-0},{"ApproximateArrivalTimestamp":-0.0},{"ApproximateArrivalTimestamp":0.0005},{"ApproximateArrivalTimestamp":0.0015},{"ApproximateArrivalTimestamp":1700000000.9999},{"ApproximateArrivalTimestamp":99999999999999999999},{"ApproximateArrivalTimestamp":9.3e15},{"ApproximateArrivalTimestamp":-9.3e15},{"ApproximateArrivalTimestamp":9.223372036854775e15},{"ApproximateArrivalTimestamp":1e-400},{"ApproximateArrivalTimestamp":1e300},{"ApproximateArrivalTimestamp":-1e300}]}`, true},
	{"timestamps as the service writes them", `{"Records":[{"ApproximateArrivalTimestamp":1700000000.123},{"ApproximateArrivalTimestamp":1700000000.1},{"ApproximateArrivalTimestamp":1700000000.12},{"ApproximateArrivalTimestamp":1700000000.999},{"ApproximateArrivalTimestamp":1700000000.000},{"ApproximateArrivalTimestamp":0.001},{"ApproximateArrivalTimestamp":-1700000000.123},{"ApproximateArrivalTimestamp":999999999999.999},{"ApproximateArrivalTimestamp":9999999999999.999},{"ApproximateArrivalTimestamp":1.00000000000001},{"ApproximateArrivalTimestamp":0.000000000000001}]}`, true},
	{"timestamp decimals past 15 digits", `{"Records":[{"ApproximateArrivalTimestamp":99999999999999.999},{"ApproximateArrivalTimestamp":1700000000.1234567},{"ApproximateArrivalTimestamp":0.1000000000000001},{"ApproximateArrivalTimestamp":1700000000.123e0}]}`, true},
	{"timestamp infinities", `{"Records":[{"ApproximateArrivalTimestamp":"Infinity"},{"ApproximateArrivalTimestamp":"-infinity"},{"ApproximateArrivalTimestamp":"\u0049nfinity"}]}`, true},
	{"timestamp NaN", `{"Records":[{"ApproximateArrivalTimestamp":"NaN"}]}`, false},
	{"timestamp string", `{"Records":[{"ApproximateArrivalTimestamp":"1700000000"}]}`, false},
	{"timestamp true", `{"Records":[{"ApproximateArrivalTimestamp":true}]}`, false},
	{"timestamp object", `{"Records":[{"ApproximateArrivalTimestamp":{}}]}`, false},
	{"timestamp overflow", `{"Records":[{"ApproximateArrivalTimestamp":1e400}]}`, false},
	{"encryption types", `{"Records":[{"EncryptionType":"NONE"},{"EncryptionType":"KMS"},{"EncryptionType":"OTHER"},{"EncryptionType":"\u004eONE"},{"EncryptionType":""}]}`, true},
	{"encryption type number", `{"Records":[{"EncryptionType":1}]}`, false},
	{"millis", `{"MillisBehindLatest":-5}`, true},
	{"millis max", `{"MillisBehindLatest":9223372036854775807}`, true},
	{"millis min", `{"MillisBehindLatest":-9223372036854775808}`, true},
	{"millis -0", `{"MillisBehindLatest":-0}`, true},
	{"millis overflow", `{"MillisBehindLatest":9223372036854775808}`, false},
	{"millis -2^63 and more digits", `{"MillisBehindLatest":-92233720368547758080}`, true},
	{"millis -2^63 and a fraction", `{"MillisBehindLatest":-9223372036854775808.5}`, true},
	{"millis -2^63-1", `{"MillisBehindLatest":-9223372036854775809}`, false},
	{"millis 2^63 and more digits", `{"MillisBehindLatest":92233720368547758080}`, false},
	{"timestamp -2^63 and more digits", `{"Records":[{"ApproximateArrivalTimestamp":-92233720368547758080},{"ApproximateArrivalTimestamp":-9223372036854775808.5e3}]}`, true},
	{"millis fraction", `{"MillisBehindLatest":1.0}`, false},
	{"millis exponent", `{"MillisBehindLatest":1e3}`, false},
	{"millis string", `{"MillisBehindLatest":"1"}`, false},
	{"millis true", `{"MillisBehindLatest":true}`, false},
	{"repeated Records", `{"Records":[{"Data":"QQ=="}],"Records":[{"Data":"Qg=="},{"Data":"Qw=="}]}`, true},
	{"repeated Records, bad first", `{"Records":[{"Data":"!!!!"}],"Records":[]}`, false},
	{"repeated Data", `{"Records":[{"Data":"QQ==","Data":"Qg=="}]}`, true},
	{"repeated Data, bad first", `{"Records":[{"Data":"QQ","Data":"Qg=="}]}`, false},
	{"repeated Data, null second", `{"Records":[{"Data":"QQ==","Data":null}]}`, true},
	{"repeated fields", `{"Records":[{"SequenceNumber":"1","SequenceNumber":"2","ApproximateArrivalTimestamp":1,"ApproximateArrivalTimestamp":2}],"MillisBehindLatest":1,"MillisBehindLatest":2,"NextShardIterator":"a","NextShardIterator":"b"}`, true},
	{"child shards", `{"Records":[],"ChildShards":[{"ShardId":"shardId-000000000001","ParentShards":["shardId-000000000000"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"170141183460469231731687303715884105727"}},{"ShardId":"shardId-000000000002","ParentShards":["shardId-000000000000","shardId-000000000003"],"HashKeyRange":{"StartingHashKey":"170141183460469231731687303715884105728","EndingHashKey":"340282366920938463463374607431768211455"}}]}`, true},
	{"child shards odd", `{"ChildShards":[null,{},{"ParentShards":[null,"a"],"HashKeyRange":{},"X":1},{"ParentShards":[],"HashKeyRange":null,"ShardId":null},{"HashKeyRange":{"StartingHashKey":null,"Y":[],"EndingHashKey":"\u0039"}}],"ChildShards":[{"ShardId":"s"}]}`, true},
	{"child shards wrong", `{"ChildShards":{}}`, false},
	{"parent shard number", `{"ChildShards":[{"ParentShards":[1]}]}`, false},
	{"hash key range list", `{"ChildShards":[{"HashKeyRange":[]}]}`, false},
	{"base64 with escaped newlines", `{"Records":[{"Data":"QU\nJD"},{"Data":"QUJD\r\n"},{"Data":"\u0051UJD"}]}`, true},
	{"long base64", `{"Records":[{"Data":"` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("kinesin\x00\xff"), 40)) + `"},{"Data":"` + strings.Repeat("QUJD", 12) + `"},{"Data":"` + strings.Repeat("QUJD", 11) + `QQ=="}]}`, true},
	{"long base64 with escaped newlines", `{"Records":[{"Data":"` + strings.Repeat("QUJD", 20) + `\r\n` + strings.Repeat("QUJD", 20) + `"},{"Data":"` + strings.Repeat("QUJD", 9) + `\n` + strings.Repeat("QUJD", 9) + `"}]}`, true},
	{"long base64, a bad character late", `{"Records":[{"Data":"` + strings.Repeat("QUJD", 30) + `Q@JD"}]}`, false},
	{"long base64, URL alphabet early", `{"Records":[{"Data":"QU_D` + strings.Repeat("QUJD", 30) + `"}]}`, false},
	{"base64 unpadded", `{"Records":[{"Data":"QQ"}]}`, false},
	{"base64 short padding", `{"Records":[{"Data":"QQ="}]}`, false},
	{"base64 too much padding", `{"Records":[{"Data":"Q==="}]}`, false},
	{"base64 bad characters", `{"Records":[{"Data":"@@@@"}]}`, false},
	{"base64 URL alphabet", `{"Records":[{"Data":"-_-_"}]}`, false},
	{"base64 padding inside", `{"Records":[{"Data":"QQ==QQ=="}]}`, false},
	{"base64 invalid UTF-8 escape", "{\"Records\":[{\"Data\":\"\xff\xff\xff\xff\\u0041\"}]}", false},
	{"data number", `{"Records":[{"Data":1}]}`, false},
	{"data object", `{"Records":[{"Data":{}}]}`, false},
	{"sequence number number", `{"Records":[{"SequenceNumber":1}]}`, false},
	{"iterator number", `{"NextShardIterator":1}`, false},
	{"whitespace only", "   ", false},
	{"null document", `null`, false},
	{"null document, trailing", `null {}`, false},
	{"array document", `[]`, false},
	{"string document", `"x"`, false},
	{"number document", `1`, false},
	{"truncated object", `{`, false},
	{"truncated member", `{"Records"`, false},
	{"truncated value", `{"Records":`, false},
	{"truncated list", `{"Records":[`, false},
	{"truncated record", `{"Records":[{`, false},
	{"truncated after record", `{"Records":[{}`, false},
	{"truncated string", `{"Records":[{"Data":"QQ==`, false},
	{"truncated escape", `{"a":"\`, false},
	{"trailing comma in list", `{"Records":[{},]}`, false},
	{"leading comma in list", `{"Records":[,]}`, false},
	{"comma alone", `{,}`, false},
	{"trailing comma in object", `{"a":1,}`, false},
	{"missing colon", `{"a" 1}`, false},
	{"missing comma", `{"a":1 "b":2}`, false},
	{"missing comma in list", `{"Records":[{} {}]}`, false},
	{"stray value in list", `{"Records":[{} 2]}`, false},
	{"leading zero", `{"a":01}`, false},
	{"bare point", `{"a":1.}`, false},
	{"bare minus", `{"a":-}`, false},
	{"leading point", `{"a":.5}`, false},
	{"plus sign", `{"a":+1}`, false},
	{"empty exponent", `{"a":1e}`, false},
	{"bad literal", `{"a":tru}`, false},
	{"bad null", `{"Records":nul}`, false},
	{"control character", "{\"a\":\"\x01\"}", false},
	{"raw control character in data", "{\"Records\":[{\"Data\":\"QUJD\x01\"}]}", false},
	{"raw tab in data", "{\"Records\":[{\"Data\":\"QU\tJD\"}]}", false},
	{"raw carriage return in data", "{\"Records\":[{\"Data\":\"QU\rJD\"}]}", false},
	{"raw NUL in data", "{\"Records\":[{\"Data\":\"QUJD\x00\"}]}", false},
	{"non-ASCII in data", "{\"Records\":[{\"Data\":\"QUJ\xc3\xa9\"}]}", false},
	{"DEL in data", "{\"Records\":[{\"Data\":\"QUJ\x7f\"}]}", false},
	{"long data, a raw newline late", "{\"Records\":[{\"Data\":\"" + strings.Repeat("QUJD", 30) + "\nQUJD\"}]}", false},
	{"long data, a raw control character late", "{\"Records\":[{\"Data\":\"" + strings.Repeat("QUJD", 30) + "QUJ\x1f\"}]}", false},
	{"data, a quote escaped", `{"Records":[{"Data":"QU\"JD"}]}`, false},
	{"data, a raw control character in a replaced list", "{\"Records\":[{\"Data\":\"QU\x02JD\"}],\"Records\":[]}", false},
	{"data, a raw control character replaced", "{\"Records\":[{\"Data\":\"QU\x02JD\",\"Data\":\"QUJD\"}]}", false},
	{"raw newline in data", "{\"Records\":[{\"Data\":\"QU\nJD\"}]}", false},
	{"raw tab in key", "{\"a\tb\":1}", false},
	{"bad escape", `{"a":"\q"}`, false},
	{"single quote escape", `{"a":"\'"}`, false},
	{"short unicode escape", `{"a":"\u12"}`, false},
	{"bad unicode escape", `{"a":"\u12G4"}`, false},
	{"Records object", `{"Records":{}}`, false},
	{"Records string", `{"Records":"x"}`, false},
	{"record number", `{"Records":[1]}`, false},
	{"record list", `{"Records":[[]]}`, false},
	{"record true", `{"Records":[true]}`, false},
	{"key not a string", `{a:1}`, false},
	{"unquoted value", `{"a":b}`, false},
	{"colon as value", `{"a"::1}`, false},
	{"close bracket in object", `{"a":1]`, false},
	{"close brace in list", `{"a":[1}`, false},
}

func TestEdgeCases(t *testing.T) {
	for _, c := range edgeCases {
		_, err := mustAgree(t, c.name, []byte(c.body))
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v does not wrap ErrMalformed", c.name, err)
		}
	}
}

// TestDecodedValues checks values the differential tests take from the SDK
// against what they must be, in case both were wrong the same way.
func TestDecodedValues(t *testing.T) {
	body := `{"Records":[{"SequenceNumber":"4959","ApproximateArrivalTimestamp":1700000000.123,"Data":"aGVsbG8=","PartitionKey":"a\"\u00e9\ud83d\ude00","EncryptionType":"KMS"}],"NextShardIterator":"next","MillisBehindLatest":42}`
	out, err := ourDecode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := &kinesis.GetRecordsOutput{
		Records: []types.Record{{
			SequenceNumber:              aws.String("4959"),
			ApproximateArrivalTimestamp: aws.Time(time.UnixMilli(1700000000123).UTC()),
			Data:                        []byte("hello"),
			PartitionKey:                aws.String("a\"é😀"),
			EncryptionType:              types.EncryptionTypeKms,
		}},
		NextShardIterator:  aws.String("next"),
		MillisBehindLatest: aws.Int64(42),
	}
	if d := agree(want, nil, out, nil); d != "" {
		t.Fatal(d)
	}
}

// TestTruncated cuts valid bodies at every byte: each prefix decodes as with
// the SDK (almost all fail), never panics.
func TestTruncated(t *testing.T) {
	for _, c := range edgeCases {
		if !c.ok {
			continue
		}
		for n := range len(c.body) {
			mustAgree(t, c.name+" cut", []byte(c.body[:n]))
		}
	}
}

// TestDepth checks the nesting limit the SDK's parser has, in skipped
// values.
func TestDepth(t *testing.T) {
	for _, depth := range []int{9998, 9999, 10000, 10001} {
		nest := func(open, close string) string {
			return `{"x":` + strings.Repeat(open, depth) + "1" + strings.Repeat(close, depth) + `}`
		}
		for _, body := range []string{nest("[", "]"), nest(`{"a":`, "}")} {
			_, err := mustAgree(t, "depth", []byte(body))
			if ok := depth < 10000; (err == nil) != ok {
				t.Errorf("depth %d: error %v, want ok=%v", depth, err, ok)
			}
		}
	}
}

// TestHugeData decodes records of 1 MiB and more.
func TestHugeData(t *testing.T) {
	big := bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff}, 1<<18)
	enc := base64.StdEncoding.EncodeToString(big)
	body := `{"Records":[{"Data":"` + enc + `","PartitionKey":"p"},{"Data":"` + enc[:1<<20] + `"}],"NextShardIterator":"n"}`
	out, err := mustAgree(t, "huge", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Records[0].Data, big) {
		t.Fatal("the data of the first record changed")
	}
}

// TestDataIsolated checks that records do not share capacity: appending to
// one record's Data does not touch the next.
func TestDataIsolated(t *testing.T) {
	out, err := ourDecode([]byte(`{"Records":[{"Data":"QUJD"},{"Data":"REVG"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = append(out.Records[0].Data, 'x')
	if string(out.Records[1].Data) != "DEF" {
		t.Fatalf("second record's data is %q after appending to the first", out.Records[1].Data)
	}
}

// TestErrorClass checks that a malformed body fails as the SDK's decoder
// fails: a *smithy.DeserializationError, here also wrapping ErrMalformed.
func TestErrorClass(t *testing.T) {
	_, err := ourDecode([]byte(`{"Records":[{"Data":"QQ"}]}`))
	var de *smithy.DeserializationError
	if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) || !errors.As(err, new(base64.CorruptInputError)) {
		t.Fatalf("error %T %v: want a DeserializationError wrapping ErrMalformed and base64.CorruptInputError", err, err)
	}
}

// TestDecodeGetRecordsEmpty checks that an empty body leaves the output as
// it is, as the SDK does.
func TestDecodeGetRecordsEmpty(t *testing.T) {
	out := kinesis.GetRecordsOutput{NextShardIterator: aws.String("kept")}
	if err := DecodeGetRecords(nil, &out); err != nil || aws.ToString(out.NextShardIterator) != "kept" {
		t.Fatalf("got %v, %v", out.NextShardIterator, err)
	}
	if err := DecodeGetRecords([]byte(`{"Records":[{"Data":"QQ"}]}`), &out); err == nil || aws.ToString(out.NextShardIterator) != "kept" || out.Records != nil {
		t.Fatalf("a failed decode changed the output or did not fail: %v", err)
	}
}

// recordsBody returns a GetRecords body of n records, some with escapes.
func recordsBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		pk := fmt.Sprintf("key-%d", i)
		if i%3 == 0 {
			pk = fmt.Sprintf(`k\u00e9y\n%d`, i)
		}
		data := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{byte(i)}, 100+i%100))
		fmt.Fprintf(&b, `{"SequenceNumber":"4959%052d","ApproximateArrivalTimestamp":1700000000.%03d,"Data":"%s","PartitionKey":"%s","EncryptionType":"NONE"}`,
			i, i%1000, data, pk)
	}
	b.WriteString(`],"NextShardIterator":"next","MillisBehindLatest":0,"ChildShards":[]}`)
	return b.Bytes()
}

// TestAllocationsPerResponse checks that decoding allocates as much for
// 1,000 records as for 10: one allocation per kind of output, none per
// record.
func TestAllocationsPerResponse(t *testing.T) {
	if raceEnabled || testing.CoverMode() != "" {
		t.Skip("allocation counts differ under the race detector and coverage")
	}
	var counts []float64
	for _, n := range []int{10, 100, 1000} {
		body := recordsBody(n)
		DecodeGetRecords(body, &kinesis.GetRecordsOutput{}) // fill the pools
		allocs := testing.AllocsPerRun(20, func() {
			var out kinesis.GetRecordsOutput
			if err := DecodeGetRecords(body, &out); err != nil || len(out.Records) != n {
				t.Fatalf("%d records, %v", len(out.Records), err)
			}
		})
		counts = append(counts, allocs)
	}
	if counts[0] != counts[2] || counts[2] > 10 {
		t.Fatalf("allocations for 10, 100, 1000 records: %v", counts)
	}
}

// TestOneDataArray checks that the records' Data lie end to end in one
// array, and their strings in one string.
func TestOneDataArray(t *testing.T) {
	var out kinesis.GetRecordsOutput
	if err := DecodeGetRecords(recordsBody(50), &out); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(out.Records); i++ {
		prev, cur := out.Records[i-1], out.Records[i]
		if unsafe.Pointer(unsafe.SliceData(cur.Data)) != unsafe.Add(unsafe.Pointer(unsafe.SliceData(prev.Data)), len(prev.Data)) {
			t.Fatalf("record %d's Data does not follow record %d's", i, i-1)
		}
		prevPK := unsafe.StringData(*prev.PartitionKey)
		if unsafe.Pointer(unsafe.StringData(*cur.SequenceNumber)) != unsafe.Add(unsafe.Pointer(prevPK), len(*prev.PartitionKey)) {
			t.Fatalf("record %d's sequence number does not follow record %d's partition key", i, i-1)
		}
	}
}
