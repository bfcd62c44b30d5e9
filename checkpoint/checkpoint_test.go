package checkpoint_test

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	seq56 = "49590338271490256608559692538361571095921575989136588898"
	u128  = "340282366920938463463374607431768211455" // 2^128-1
)

// maxSeq is the largest sequence number the Kinesis API allows: 129 nines.
var maxSeq = strings.Repeat("9", 129)

// ordered lists checkpoints from first to last; entries in the same inner
// slice are equal.
var ordered = [][]checkpoint.Checkpoint{
	{checkpoint.StartAt(time.Unix(0, 1))},
	{checkpoint.StartAt(time.Unix(1700000000, 5)), checkpoint.StartAt(time.Unix(1700000000, 5).In(time.FixedZone("x", 3600)))},
	{checkpoint.StartAt(time.Unix(1700000001, 0))},
	{checkpoint.At("0"), checkpoint.At("000")},
	{checkpoint.AtSub("1", 0), checkpoint.AtSub("01", 0)},
	{checkpoint.AtSub("1", 2)},
	{checkpoint.AtSub("1", 10)},
	{checkpoint.At("1"), checkpoint.At("0001")},
	{checkpoint.AtSub("2", 0)},
	{checkpoint.At("9")},
	{checkpoint.At("10"), checkpoint.At("010")},
	{checkpoint.At("99")},
	{checkpoint.At("100")},
	{checkpoint.At("18446744073709551615")}, // 2^64-1
	{checkpoint.At("18446744073709551616")},
	{checkpoint.At(u128)},
	{checkpoint.At("340282366920938463463374607431768211456")}, // 2^128
	{checkpoint.At("9" + seq56[:54])},                          // 55 digits, above seq56 as a string
	{checkpoint.AtSub(seq56, 0)},
	{checkpoint.AtSub(seq56, 1<<63-1)},
	{checkpoint.At(seq56), checkpoint.At("000" + seq56)},
	{checkpoint.At("49590338271490256608559692538361571095921575989136588899")},
	{checkpoint.At("1" + strings.Repeat("0", 127))}, // 128 digits
	{checkpoint.AtSub(maxSeq, 5)},
	{checkpoint.At(maxSeq), checkpoint.At("0" + maxSeq)},
	{
		checkpoint.Ended(),
		{ShardEnded: true, SequenceNumber: "5"},
		{ShardEnded: true, SequenceNumber: maxSeq, Partial: true, SubSequenceNumber: 3},
	},
	{checkpoint.EndedFrom(time.Unix(1700000000, 5))},
	{checkpoint.EndedFrom(time.Unix(1700000001, 0))},
}

func TestCompareOrder(t *testing.T) {
	for i, gi := range ordered {
		for j, gj := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			for _, a := range gi {
				for _, b := range gj {
					if got := a.Compare(b); got != want {
						t.Errorf("%#v.Compare(%#v) = %d, want %d", a, b, got, want)
					}
				}
			}
		}
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b checkpoint.Checkpoint
		want int
	}{
		{"shard end above max", checkpoint.Ended(), checkpoint.At(maxSeq), 1},
		{"shard end above partial", checkpoint.Ended(), checkpoint.AtSub(seq56, 1<<62), 1},
		{"shard ends equal", checkpoint.Ended(), checkpoint.Checkpoint{ShardEnded: true, SequenceNumber: "7"}, 0},
		{"9 before 10", checkpoint.At("9"), checkpoint.At("10"), -1},
		{"leading zeros", checkpoint.At("0010"), checkpoint.At("9"), 1},
		{"leading zeros equal", checkpoint.At("0010"), checkpoint.At("10"), 0},
		{"56 digits", checkpoint.At(seq56), checkpoint.At("49590338271490256608559692538361571095921575989136588897"), 1},
		{"55 before 56 digits", checkpoint.At("9" + seq56[:54]), checkpoint.At(seq56), -1},
		{"sub-record before whole", checkpoint.AtSub(seq56, 99), checkpoint.At(seq56), -1},
		{"sub 0 before whole", checkpoint.AtSub("5", 0), checkpoint.At("5"), -1},
		{"whole after sub-record", checkpoint.At("5"), checkpoint.AtSub("5", 3), 1},
		{"sub-records in order", checkpoint.AtSub("5", 3), checkpoint.AtSub("5", 10), -1},
		{"sub-records equal", checkpoint.AtSub("5", 3), checkpoint.AtSub("005", 3), 0},
		{"next record's sub-record after whole", checkpoint.AtSub("6", 0), checkpoint.At("5"), 1},
		{"sequence before sub-sequence", checkpoint.AtSub("10", 0), checkpoint.AtSub("9", 100), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Compare(tc.b); got != tc.want {
				t.Errorf("%v.Compare(%v) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := tc.b.Compare(tc.a); got != -tc.want {
				t.Errorf("%v.Compare(%v) = %d, want %d", tc.b, tc.a, got, -tc.want)
			}
		})
	}
}

func TestCompareSequence(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"0", "0", 0},
		{"000", "0", 0},
		{"1", "0", 1},
		{"9", "10", -1},
		{"10", "9", 1},
		{"0010", "9", 1},
		{"009", "10", -1},
		{"123", "124", -1},
		{"124", "123", 1},
		{seq56, seq56, 0},
		{seq56, "0000" + seq56, 0},
		{"9" + seq56[:54], seq56, -1},
		{u128, "340282366920938463463374607431768211454", 1},
		{strings.Repeat("9", 128), "1" + strings.Repeat("0", 128), -1},
		{maxSeq, strings.Repeat("9", 128), 1},
	} {
		if got := checkpoint.CompareSequence(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareSequence(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := checkpoint.CompareSequence(tc.b, tc.a); got != -tc.want {
			t.Errorf("CompareSequence(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

// TestCompareSequenceBig checks CompareSequence against math/big on random
// numbers of 1 to 39 digits (up to 128 bits), then of up to 129 digits, with
// and without leading zeros.
func TestCompareSequenceBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		return string(b)
	}
	for i := range 40000 {
		maxLen := 39
		if i%2 == 1 {
			maxLen = 129
		}
		la := 1 + r.IntN(maxLen)
		lb := la
		if r.IntN(2) == 0 { // half of the pairs have equal lengths
			lb = 1 + r.IntN(maxLen)
		}
		a, b := digits(la), digits(lb)
		switch r.IntN(4) {
		case 0: // equal values
			b = a
		case 1: // equal but for the last digit
			b = a[:la-1] + digits(1)
		}
		if r.IntN(3) == 0 {
			b = strings.Repeat("0", r.IntN(5)) + b
		}
		x, _ := new(big.Int).SetString(a, 10)
		y, _ := new(big.Int).SetString(b, 10)
		if got, want := checkpoint.CompareSequence(a, b), x.Cmp(y); got != want {
			t.Fatalf("CompareSequence(%q, %q) = %d, want %d", a, b, got, want)
		}
		if got, want := checkpoint.At(a).Compare(checkpoint.At(b)), x.Cmp(y); got != want {
			t.Fatalf("At(%q).Compare(At(%q)) = %d, want %d", a, b, got, want)
		}
	}
}

func TestCompareSequenceDoesNotAllocate(t *testing.T) {
	a, b := "000"+seq56, seq56[:55]
	if n := testing.AllocsPerRun(100, func() { checkpoint.CompareSequence(a, b) }); n != 0 {
		t.Errorf("CompareSequence allocates %v times, want 0", n)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cp      checkpoint.Checkpoint
		wantErr string // a substring of the error, "" for valid
	}{
		{"whole", checkpoint.At("1"), ""},
		{"zero", checkpoint.At("0"), ""},
		{"56 digits", checkpoint.At(seq56), ""},
		{"2^128-1", checkpoint.At(u128), ""},
		{"2^128", checkpoint.At("340282366920938463463374607431768211456"), ""},
		{"129 digits", checkpoint.At(maxSeq), ""},
		{"leading zeros beyond 129 digits", checkpoint.At(strings.Repeat("0", 20) + maxSeq), ""},
		{"partial", checkpoint.AtSub(seq56, 0), ""},
		{"partial max", checkpoint.AtSub(seq56, 1<<63-1), ""},
		{"ended", checkpoint.Ended(), ""},
		{"ended ignores the rest", checkpoint.Checkpoint{ShardEnded: true, SequenceNumber: "x", SubSequenceNumber: -1}, ""},
		{"empty", checkpoint.Checkpoint{}, "not a decimal integer"},
		{"empty partial", checkpoint.AtSub("", 0), "not a decimal integer"},
		{"letters", checkpoint.At("12a"), "not a decimal integer"},
		{"minus", checkpoint.At("-1"), "not a decimal integer"},
		{"plus", checkpoint.At("+1"), "not a decimal integer"},
		{"space", checkpoint.At("1 "), "not a decimal integer"},
		{"non-ASCII digit", checkpoint.At("1٣"), "not a decimal integer"},
		{"130 digits", checkpoint.At("1" + maxSeq), "more than 129 digits"},
		{"200 digits", checkpoint.At(strings.Repeat(seq56, 4)[:200]), "more than 129 digits"},
		{"negative sub-sequence", checkpoint.AtSub("1", -1), "negative sub-sequence"},
		{"sub-sequence on whole record", checkpoint.Checkpoint{SequenceNumber: "1", SubSequenceNumber: 4}, "on a whole record"},
		{"start", checkpoint.StartAt(time.Unix(1700000000, 1)), ""},
		{"start at the epoch's first nanosecond", checkpoint.StartAt(time.Unix(0, 1)), ""},
		{"ended from a time", checkpoint.EndedFrom(time.Unix(1700000000, 1)), ""},
		{"start before 1970", checkpoint.StartAt(time.Unix(-1, 0)), "outside 1970..2262"},
		{"ended from before 1970", checkpoint.EndedFrom(time.Unix(-1, 0)), "outside 1970..2262"},
		{"start past 2262", checkpoint.StartAt(time.Unix(0, 1<<63-1).Add(time.Nanosecond)), "outside 1970..2262"},
		{"partial start", checkpoint.Checkpoint{Timestamp: time.Unix(5, 0), Partial: true}, "on a start checkpoint"},
		{"position with a time", checkpoint.Checkpoint{SequenceNumber: "5", Timestamp: time.Unix(5, 0)}, "with a timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cp.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("%#v.Validate() = %v, want nil", tc.cp, err)
			case tc.wantErr != "" && !errors.Is(err, checkpoint.ErrInvalid):
				t.Errorf("%#v.Validate() = %v, want an error wrapping ErrInvalid", tc.cp, err)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("%#v.Validate() = %v, want it to mention %q", tc.cp, err, tc.wantErr)
			}
		})
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		cp   checkpoint.Checkpoint
		want string
	}{
		{checkpoint.At(seq56), seq56},
		{checkpoint.At("0010"), "0010"},
		{checkpoint.AtSub(seq56, 0), seq56 + "/0"},
		{checkpoint.AtSub("5", 12), "5/12"},
		{checkpoint.Ended(), "SHARD_END"},
		{checkpoint.Checkpoint{ShardEnded: true, SequenceNumber: "5", Partial: true}, "SHARD_END"},
		{checkpoint.EndedFrom(time.Date(2026, 12, 7, 1, 2, 3, 4, time.UTC)), "SHARD_END(from 2026-12-07T01:02:03.000000004Z)"},
		{checkpoint.StartAt(time.Date(2026, 12, 7, 1, 2, 3, 0, time.FixedZone("x", 3600))), "AT_TIMESTAMP(2026-12-07T00:02:03Z)"},
		{checkpoint.Checkpoint{}, "none"},
	} {
		if got := tc.cp.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.cp, got, tc.want)
		}
	}
}

func TestConstructors(t *testing.T) {
	if got, want := checkpoint.At("42"), (checkpoint.Checkpoint{SequenceNumber: "42"}); got != want {
		t.Errorf("At(42) = %#v, want %#v", got, want)
	}
	if got, want := checkpoint.AtSub("42", 0), (checkpoint.Checkpoint{SequenceNumber: "42", Partial: true}); got != want {
		t.Errorf("AtSub(42, 0) = %#v, want %#v", got, want)
	}
	if got, want := checkpoint.AtSub("42", 7), (checkpoint.Checkpoint{SequenceNumber: "42", SubSequenceNumber: 7, Partial: true}); got != want {
		t.Errorf("AtSub(42, 7) = %#v, want %#v", got, want)
	}
	if got, want := checkpoint.Ended(), (checkpoint.Checkpoint{ShardEnded: true}); got != want {
		t.Errorf("Ended() = %#v, want %#v", got, want)
	}
	at := time.Date(2026, 12, 7, 1, 2, 3, 4, time.FixedZone("x", 3600))
	if got, want := checkpoint.StartAt(at), (checkpoint.Checkpoint{Timestamp: at.UTC()}); got != want || !got.IsStart() || got.IsZero() {
		t.Errorf("StartAt(%v) = %#v, want %#v, a start", at, got, want)
	}
	if got, want := checkpoint.EndedFrom(at), (checkpoint.Checkpoint{ShardEnded: true, Timestamp: at.UTC()}); got != want || got.IsStart() {
		t.Errorf("EndedFrom(%v) = %#v, want %#v", at, got, want)
	}
	if got := checkpoint.EndedFrom(time.Time{}); got != checkpoint.Ended() {
		t.Errorf("EndedFrom(zero) = %#v, want Ended()", got)
	}
	if !(checkpoint.Checkpoint{}).IsZero() || checkpoint.At("1").IsZero() || checkpoint.At("1").IsStart() || checkpoint.Ended().IsZero() {
		t.Error("IsZero or IsStart is wrong")
	}
	for _, cp := range []checkpoint.Checkpoint{checkpoint.At("42"), checkpoint.AtSub("42", 0), checkpoint.AtSub("42", 7), checkpoint.Ended(), checkpoint.StartAt(at), checkpoint.EndedFrom(at)} {
		if err := cp.Validate(); err != nil {
			t.Errorf("%#v.Validate() = %v, want nil", cp, err)
		}
	}
}
