package storekey_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/storekey"
)

// randomCheckpoint returns a valid checkpoint drawn from a small space, so
// that pairs often share a sequence number.
func randomCheckpoint(r *rand.Rand) checkpoint.Checkpoint {
	times := []time.Time{{}, time.Unix(0, 1), time.Unix(1700000000, 123456789), time.Unix(1700000000, 123456790), time.Unix(0, 1<<63-1)}
	switch r.IntN(10) {
	case 0:
		return checkpoint.EndedFrom(times[r.IntN(len(times))])
	case 1:
		return checkpoint.StartAt(times[1+r.IntN(len(times)-1)])
	}
	var seq string
	switch r.IntN(5) {
	case 0:
		seq = fmt.Sprint(r.IntN(20))
	case 1:
		seq = strings.Repeat("0", r.IntN(3)) + fmt.Sprint(r.IntN(20)) // leading zeros
	case 2:
		seq = "4959" + fmt.Sprintf("%052d", r.IntN(3))
	case 3:
		seq = strings.Repeat("9", 128+r.IntN(2)) // 128 or 129 digits
	default:
		seq = "1" + strings.Repeat("0", 127+r.IntN(2))
	}
	if r.IntN(2) == 0 {
		return checkpoint.At(seq)
	}
	subs := []int64{0, 1, 2, 9, 10, 1<<63 - 1}
	return checkpoint.AtSub(seq, subs[r.IntN(len(subs))])
}

func TestOrderKeyOrdersAsCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		a, b := randomCheckpoint(r), randomCheckpoint(r)
		ka, kb := storekey.OrderKey(a), storekey.OrderKey(b)
		if len(ka) != storekey.OrderKeyLen || len(kb) != storekey.OrderKeyLen {
			t.Fatalf("orderKey lengths %d, %d; want %d", len(ka), len(kb), storekey.OrderKeyLen)
		}
		if got, want := strings.Compare(ka, kb), a.Compare(b); got != want {
			t.Fatalf("keys of %v and %v compare %d, checkpoints %d\n%s\n%s", a, b, got, want, ka, kb)
		}
	}
}

func TestOrderKeyRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 10_000 {
		c := randomCheckpoint(r)
		got, err := storekey.ParseOrderKey(storekey.OrderKey(c))
		if err != nil {
			t.Fatalf("storekey.ParseOrderKey(storekey.OrderKey(%v)): %v", c, err)
		}
		if got.Compare(c) != 0 || got.Partial != c.Partial || got.ShardEnded != c.ShardEnded || got.SubSequenceNumber != c.SubSequenceNumber || got.Timestamp != c.Timestamp {
			t.Fatalf("round trip of %#v gave %#v", c, got)
		}
		if c.SequenceNumber != "" && got.SequenceNumber != strings.TrimLeft(c.SequenceNumber, "0") && got.SequenceNumber != "0" {
			t.Fatalf("round trip of %q gave %q, want it without leading zeros", c.SequenceNumber, got.SequenceNumber)
		}
	}
	if got, err := storekey.ParseOrderKey(storekey.OrderKey(checkpoint.At("000"))); err != nil || got != checkpoint.At("0") {
		t.Errorf("round trip of 000 = %v, %v; want 0", got, err)
	}
}

func TestParseOrderKeyRejects(t *testing.T) {
	z := func(n int) string { return strings.Repeat("0", n) }
	for _, s := range []string{
		"",
		"12",
		z(149),                               // one short
		z(151),                               // one long
		"3" + z(149),                         // unknown kind
		"2" + z(128) + "1" + z(20),           // shard end with digits past its time
		"0" + z(149),                         // a start without a time
		"0" + "9999999999999999999" + z(130), // a start beyond int64 nanoseconds
		"0" + z(19) + "1" + z(129),           // a start with digits past its time
		"1" + z(129) + "2" + z(19),           // unknown whole flag
		"1" + z(129) + "1" + z(18) + "5",     // sub-sequence on a whole record
		"1" + z(129) + "0" + "9999999999999999999", // beyond int64
		"1" + z(128) + "x" + "1" + z(19),
	} {
		if c, err := storekey.ParseOrderKey(s); err == nil {
			t.Errorf("storekey.ParseOrderKey(%q) = %v, want an error", s, c)
		}
	}
}

func TestOrderKeyLayout(t *testing.T) {
	z := func(n int) string { return strings.Repeat("0", n) }
	for _, tc := range []struct {
		cp   checkpoint.Checkpoint
		want string
	}{
		{checkpoint.Ended(), "2" + z(149)},
		{checkpoint.EndedFrom(time.Unix(1, 5)), "2" + z(9) + "1000000005" + z(130)},
		{checkpoint.StartAt(time.Unix(0, 42)), "0" + z(17) + "42" + z(130)},
		{checkpoint.StartAt(time.Unix(0, 1<<63-1)), "0" + "9223372036854775807" + z(130)},
		{checkpoint.At("0"), "1" + z(129) + "1" + z(19)},
		{checkpoint.At("0042"), "1" + z(127) + "42" + "1" + z(19)},
		{checkpoint.AtSub("42", 7), "1" + z(127) + "42" + "0" + z(18) + "7"},
		{checkpoint.AtSub(strings.Repeat("9", 129), 1<<63-1), "1" + strings.Repeat("9", 129) + "0" + "9223372036854775807"},
	} {
		if got := storekey.OrderKey(tc.cp); got != tc.want {
			t.Errorf("storekey.OrderKey(%v) =\n%s, want\n%s", tc.cp, got, tc.want)
		}
	}
}

// ParseNamespace gives back the names Namespace joined, whatever they hold,
// and refuses strings Namespace does not make.
func TestParseNamespace(t *testing.T) {
	for _, tc := range []struct{ app, stream string }{
		{"billing", "orders"}, {"a/b", "c"}, {"a", "b/c"}, {"", "s"}, {"a", ""}, {"1:x/y", "2:/"}, {"ünï", "çödé"},
	} {
		app, stream, ok := storekey.ParseNamespace(storekey.Namespace(tc.app, tc.stream))
		if !ok || app != tc.app || stream != tc.stream {
			t.Errorf("ParseNamespace(Namespace(%q, %q)) = %q, %q, %v", tc.app, tc.stream, app, stream, ok)
		}
	}
	for _, bad := range []string{"", "billing/orders", "7:billing", "8:billing/orders", "x:a/b", "-1:/a", "01:a/b", "3:ab/c", "+1:a/b"} {
		if app, stream, ok := storekey.ParseNamespace(bad); ok {
			t.Errorf("ParseNamespace(%q) = %q, %q, true; want not ok", bad, app, stream)
		}
	}
}
