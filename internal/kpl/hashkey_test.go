package kpl

import (
	"crypto/md5"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

const (
	maxHashKeyDecimal = "340282366920938463463374607431768211455" // 2^128-1
	halfHashKey       = "170141183460469231731687303715884105728" // 2^127
)

func toBig(u Uint128) *big.Int {
	hi := new(big.Int).SetUint64(u.Hi)
	return hi.Lsh(hi, 64).Or(hi, new(big.Int).SetUint64(u.Lo))
}

func TestParseUint128(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Uint128
		ok   bool
	}{
		{"0", Uint128{}, true},
		{"1", Uint128{Lo: 1}, true},
		{"18446744073709551615", Uint128{Lo: 1<<64 - 1}, true},
		{"18446744073709551616", Uint128{Hi: 1}, true},
		{halfHashKey, Uint128{Hi: 1 << 63}, true},
		{maxHashKeyDecimal, MaxHashKey, true},
		{"000" + maxHashKeyDecimal, MaxHashKey, true},
		{strings.Repeat("0", 100) + "7", Uint128{Lo: 7}, true},
		{"340282366920938463463374607431768211456", Uint128{}, false},  // 2^128
		{"340282366920938463463374607431768211460", Uint128{}, false},  // overflows on the last digit
		{"3402823669209384634633746074317682114550", Uint128{}, false}, // overflows on the multiply
		{"999999999999999999999999999999999999999999", Uint128{}, false},
		{"", Uint128{}, false},
		{"-1", Uint128{}, false},
		{"+1", Uint128{}, false},
		{" 1", Uint128{}, false},
		{"1 ", Uint128{}, false},
		{"1a", Uint128{}, false},
		{"0x10", Uint128{}, false},
		{"1e3", Uint128{}, false},
		{"١", Uint128{}, false}, // ARABIC-INDIC DIGIT ONE
	} {
		got, ok := ParseUint128(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseUint128(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestUint128StringAndCmp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []Uint128{{}, {Lo: 1}, {Lo: 1<<64 - 1}, {Hi: 1}, {Hi: 1 << 63}, MaxHashKey, {Hi: 1, Lo: 1<<64 - 1}}
	for range 1000 {
		values = append(values, Uint128{Hi: r.Uint64() >> r.IntN(64), Lo: r.Uint64()})
	}
	for i, u := range values {
		s := u.String()
		if want := toBig(u).String(); s != want {
			t.Fatalf("String(%#v) = %s, want %s", u, s, want)
		}
		if back, ok := ParseUint128(s); !ok || back != u {
			t.Fatalf("ParseUint128(%s) = %v, %v", s, back, ok)
		}
		v := values[(i+1)%len(values)]
		if got, want := u.Cmp(v), toBig(u).Cmp(toBig(v)); got != want {
			t.Fatalf("%v.Cmp(%v) = %d, want %d", u, v, got, want)
		}
		if u.Cmp(u) != 0 {
			t.Fatalf("%v.Cmp(itself) != 0", u)
		}
	}
}

func TestPartitionKeyHash(t *testing.T) {
	keys := []string{"", "a", "pk-a", "ключ-🔑", strings.Repeat("k", 256), strings.Repeat("k", 300)}
	for _, k := range keys {
		sum := md5.Sum([]byte(k))
		want := new(big.Int).SetBytes(sum[:]) // MD5 as a big-endian unsigned number
		if got := PartitionKeyHash(k); toBig(got).Cmp(want) != 0 {
			t.Errorf("PartitionKeyHash(%q) = %v, want %v", k, got, want)
		}
	}
	// A known value: MD5("") = d41d8cd98f00b204e9800998ecf8427e.
	if got, want := PartitionKeyHash(""), (Uint128{Hi: 0xd41d8cd98f00b204, Lo: 0xe9800998ecf8427e}); got != want {
		t.Errorf("PartitionKeyHash(\"\") = %#x, want %#x", got, want)
	}
	if !raceEnabled && testing.CoverMode() == "" {
		if n := testing.AllocsPerRun(100, func() { PartitionKeyHash("some-partition-key") }); n != 0 {
			t.Errorf("PartitionKeyHash allocates %v times", n)
		}
	}
}

func TestHashKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Record
		want Uint128
		ok   bool
	}{
		{"partition key", Record{PartitionKey: "pk-a"}, PartitionKeyHash("pk-a"), true},
		{"explicit hash key wins", Record{PartitionKey: "pk-a", ExplicitHashKey: halfHashKey}, Uint128{Hi: 1 << 63}, true},
		{"explicit zero", Record{PartitionKey: "pk-a", ExplicitHashKey: "0"}, Uint128{}, true},
		{"explicit max", Record{ExplicitHashKey: maxHashKeyDecimal}, MaxHashKey, true},
		{"explicit above max", Record{PartitionKey: "pk-a", ExplicitHashKey: "340282366920938463463374607431768211456"}, Uint128{}, false},
		{"explicit negative", Record{PartitionKey: "pk-a", ExplicitHashKey: "-1"}, Uint128{}, false},
		{"explicit garbage", Record{PartitionKey: "pk-a", ExplicitHashKey: "abc"}, Uint128{}, false},
	} {
		got, ok := HashKey(tc.r)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: HashKey = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestInRange(t *testing.T) {
	lo, hi := Uint128{Hi: 1, Lo: 10}, Uint128{Hi: 2, Lo: 5}
	for _, tc := range []struct {
		key  Uint128
		want bool
	}{
		{Uint128{Hi: 1, Lo: 9}, false},
		{lo, true}, // inclusive start
		{Uint128{Hi: 1, Lo: 1<<64 - 1}, true},
		{Uint128{Hi: 2}, true},
		{hi, true}, // inclusive end
		{Uint128{Hi: 2, Lo: 6}, false},
		{Uint128{Lo: 1<<64 - 1}, false},
		{MaxHashKey, false},
	} {
		if got := InRange(tc.key, lo, hi); got != tc.want {
			t.Errorf("InRange(%v, %v, %v) = %v, want %v", tc.key, lo, hi, got, tc.want)
		}
	}
	if !InRange(Uint128{}, Uint128{}, MaxHashKey) || !InRange(MaxHashKey, Uint128{}, MaxHashKey) {
		t.Error("the whole range does not hold its ends")
	}
	if InRange(Uint128{Lo: 5}, Uint128{Lo: 6}, Uint128{Lo: 4}) {
		t.Error("an empty range (start > end) holds a key")
	}
}

func TestFilterHashRange(t *testing.T) {
	half := Uint128{Hi: 1 << 63}
	lower := [2]Uint128{{}, {Hi: 1<<63 - 1, Lo: 1<<64 - 1}} // [0, 2^127-1]
	upper := [2]Uint128{half, MaxHashKey}                   // [2^127, 2^128-1]
	whole := [2]Uint128{{}, MaxHashKey}

	// Partition keys on either side of 2^127.
	var low, high string
	for i := 0; low == "" || high == ""; i++ {
		k := "key-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if PartitionKeyHash(k).Cmp(half) < 0 {
			low = k
		} else {
			high = k
		}
	}
	recs := func(rs ...Record) []Record { return rs }
	for _, tc := range []struct {
		name    string
		records []Record
		rng     [2]Uint128
		kept    int
	}{
		{"empty", nil, lower, 0},
		{"all in range by partition key", recs(Record{PartitionKey: low}, Record{PartitionKey: low}), lower, 2},
		{"all in range by explicit hash key", recs(Record{PartitionKey: high, ExplicitHashKey: "0"}, Record{PartitionKey: high, ExplicitHashKey: "5"}), lower, 2},
		{"explicit hash key wins over partition key", recs(Record{PartitionKey: low, ExplicitHashKey: halfHashKey}), lower, 0},
		{"first out of range drops all", recs(Record{PartitionKey: high}, Record{PartitionKey: low}), lower, 0},
		{"middle out of range drops the records before it too", recs(Record{PartitionKey: low}, Record{PartitionKey: high}, Record{PartitionKey: low}), lower, 0},
		{"last out of range drops all", recs(Record{PartitionKey: low}, Record{PartitionKey: low}, Record{PartitionKey: high}), lower, 0},
		{"upper half", recs(Record{PartitionKey: high}, Record{ExplicitHashKey: halfHashKey}, Record{ExplicitHashKey: maxHashKeyDecimal}), upper, 3},
		{"start is inclusive", recs(Record{ExplicitHashKey: halfHashKey}), upper, 1},
		{"end is inclusive", recs(Record{ExplicitHashKey: "170141183460469231731687303715884105727"}), lower, 1},
		{"one past the end", recs(Record{ExplicitHashKey: halfHashKey}), lower, 0},
		{"unparsable explicit hash key drops all", recs(Record{PartitionKey: low}, Record{PartitionKey: low, ExplicitHashKey: "x"}), lower, 0},
		{"whole range keeps every partition key", recs(Record{PartitionKey: low}, Record{PartitionKey: high}), whole, 2},
		{"whole range still drops an unparsable explicit hash key", recs(Record{PartitionKey: low}, Record{ExplicitHashKey: "340282366920938463463374607431768211456"}), whole, 0},
		{"empty range drops all", recs(Record{ExplicitHashKey: "5"}), [2]Uint128{{Lo: 6}, {Lo: 4}}, 0},
	} {
		kept, dropped := FilterHashRange(tc.records, tc.rng[0], tc.rng[1])
		if len(kept) != tc.kept || dropped != len(tc.records)-tc.kept {
			t.Errorf("%s: FilterHashRange kept %d, dropped %d; want %d, %d", tc.name, len(kept), dropped, tc.kept, len(tc.records)-tc.kept)
			continue
		}
		if len(kept) > 0 && &kept[0] != &tc.records[0] {
			t.Errorf("%s: kept is not a prefix of records", tc.name)
		}
	}
}

// TestFilterHashRangeVector splits the hash key space in two at 2^127, as a
// shard split does, and checks the vector with an explicit hash key: its
// records straddle the split, so both children drop it whole.
func TestFilterHashRangeVector(t *testing.T) {
	var data []byte
	for _, c := range loadVectors(t).Cases {
		if c.Name == "three-records-shared-keys" {
			data = c.Data
		}
	}
	recs, ok := Deaggregate(data)
	if !ok || len(recs) != 3 || recs[1].ExplicitHashKey != halfHashKey {
		t.Fatalf("vector three-records-shared-keys: %+v, %v", recs, ok)
	}
	half := Uint128{Hi: 1 << 63}
	below := Uint128{Hi: 1<<63 - 1, Lo: 1<<64 - 1}
	// MD5("pk-a") = 1c6364564d7442266705046c943001f4: the lower half.
	if PartitionKeyHash("pk-a").Cmp(half) >= 0 {
		t.Fatal("pk-a does not hash to the lower half")
	}
	// Records 0 and 2 (pk-a) belong to the lower child, record 1 (2^127)
	// to the upper one: each child drops the whole aggregate.
	if kept, dropped := FilterHashRange(recs, Uint128{}, below); dropped != 3 || len(kept) != 0 {
		t.Errorf("lower child kept %d, dropped %d of 3", len(kept), dropped)
	}
	if kept, dropped := FilterHashRange(recs, half, MaxHashKey); dropped != 3 || len(kept) != 0 {
		t.Errorf("upper child kept %d, dropped %d of 3", len(kept), dropped)
	}
	if kept, dropped := FilterHashRange(recs, Uint128{}, MaxHashKey); dropped != 0 || len(kept) != 3 {
		t.Errorf("whole range dropped %d", dropped)
	}
}
