package budget_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/internal/budget"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const mib = 1 << 20

// reserveAsync starts a Reserve and returns a channel of its grant.
func reserveAsync(ctx context.Context, a *budget.Account) <-chan int64 {
	ch := make(chan int64, 1)
	go func() {
		g, err := a.Reserve(ctx)
		if err != nil {
			g = -1
		}
		ch <- g
	}()
	return ch
}

// waiting waits until a waits for room.
func waiting(t *testing.T, a *budget.Account) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for a.WaitingSince().IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("the account never waited")
		}
		time.Sleep(time.Millisecond)
	}
}

// Before any record is seen, fetches are sized for records of 1 MiB; after,
// for the largest seen.
func TestRecordsFromTheLargestSeen(t *testing.T) {
	b := budget.New(100 * mib)
	if n := b.Records(10 * budget.DefaultRecordEstimate); n != 10 {
		t.Errorf("Records(10 MiB) before any record = %d, want 10", n)
	}
	if n := b.Records(mib / 2); n != 1 {
		t.Errorf("Records(0.5 MiB) = %d, want at least one", n)
	}
	b.Observe(1000)
	b.Observe(200)
	if n := b.Records(mib); n != mib/1000 {
		t.Errorf("Records(1 MiB) after records of up to 1,000 bytes = %d, want %d", n, mib/1000)
	}
}

// A grant is the account's share beyond what it holds, and the bytes held
// never pass the limit while records are no larger than the largest seen.
func TestGrantsWithinShareAndLimit(t *testing.T) {
	b := budget.New(8 * mib)
	b.Observe(mib)
	a1, a2 := b.Open(), b.Open()
	g, err := a1.Reserve(t.Context())
	if err != nil || g != 4*mib {
		t.Fatalf("first grant = %d, %v; want the share, 4 MiB", g, err)
	}
	a1.Settle(2 * mib)
	if g, _ = a1.Reserve(t.Context()); g != 2*mib {
		t.Fatalf("grant beside 2 MiB held = %d, want the rest of the share (2 MiB)", g)
	}
	a1.Settle(2 * mib)
	if g, _ = a2.Reserve(t.Context()); g != 4*mib {
		t.Fatalf("second account's grant = %d, want its share, 4 MiB", g)
	}
	a2.Settle(4 * mib)
	if h := b.Held(); h != 8*mib {
		t.Fatalf("held %d, want the limit", h)
	}
	// Full: the next Reserve waits until its own records are committed
	// below half its share.
	ch := reserveAsync(t.Context(), a2)
	waiting(t, a2)
	a1.Release(mib)
	if a2.WaitingSince().IsZero() {
		t.Fatal("an account holding its share was granted room")
	}
	a2.Release(2 * mib)
	if g := <-ch; g != 2*mib {
		t.Fatalf("grant after its records were committed = %d, want 2 MiB", g)
	}
	a2.Done()
	a1.Done()
}

// An account holding more than half its share waits for its own records to
// be committed rather than fetch a few more as others' commits free room;
// and a read waits for its whole grant, or for a quarter of the limit to be
// free, rather than take the little room one commit frees. (Fetching the
// record or two a commit freed would spend one of the shard's few calls a
// second on it: catching up 512 shards took a third longer.)
func TestWaitsForAWholeGrant(t *testing.T) {
	const record = 64 << 10
	b := budget.New(8 * mib)
	b.Observe(record)
	x, y := b.Open(), b.Open() // shares of 4 MiB
	for _, a := range []*budget.Account{x, y} {
		if g, err := a.Reserve(t.Context()); err != nil || g != 4*mib {
			t.Fatalf("grant %d, %v; want 4 MiB", g, err)
		}
		a.Settle(4 * mib)
	}
	// Full, and x holds more than half its share: x waits whatever y frees.
	xNext := reserveAsync(t.Context(), x)
	waiting(t, x)
	y.Release(record)
	if x.WaitingSince().IsZero() {
		t.Fatal("x, holding its whole share, was granted the room of one record y committed")
	}
	y.Release(mib - record)
	if x.WaitingSince().IsZero() {
		t.Fatal("x, holding its whole share, was granted room y committed")
	}
	// x's own records committed down to half its share: it gets the rest
	// of its share.
	x.Release(2 * mib)
	if g := <-xNext; g != 2*mib {
		t.Fatalf("x's grant = %d, want 2 MiB, its share beyond what it holds", g)
	}
	x.Settle(2 * mib)
	// z holds nothing; with three reading the share is 8/3 MiB. 1 MiB is
	// free (x holds 4 MiB, y 3 MiB): z waits for a quarter of the limit
	// (2 MiB, less than its share) to be free, not for the first record.
	z := b.Open()
	zNext := reserveAsync(t.Context(), z)
	waiting(t, z)
	for range 15 {
		y.Release(record) // one record committed at a time: 15 of the 16 in 1 MiB
		if z.WaitingSince().IsZero() {
			t.Fatalf("z was granted %d bytes, less than a quarter of the limit", <-zNext)
		}
	}
	y.Release(record)
	if g := <-zNext; g != 2*mib {
		t.Fatalf("z's grant = %d, want the 2 MiB free", g)
	}
	z.Settle(0)
	for _, a := range []*budget.Account{x, y, z} {
		a.Done()
	}
}

// When reads wait, the one holding the least goes first, whatever the order
// in which they asked.
func TestLeastHeldGoesFirst(t *testing.T) {
	b := budget.New(4 * mib)
	b.Observe(mib)
	hog, quiet := b.Open(), b.Open()
	if _, err := hog.Reserve(t.Context()); err != nil {
		t.Fatal(err)
	}
	hog.Settle(4 * mib) // the whole budget
	hogNext := reserveAsync(t.Context(), hog)
	waiting(t, hog)
	quietNext := reserveAsync(t.Context(), quiet)
	waiting(t, quiet)
	hog.Release(mib) // a quarter of the budget free
	select {
	case g := <-quietNext:
		if g != mib {
			t.Fatalf("quiet got %d, want 1 MiB", g)
		}
	case g := <-hogNext:
		t.Fatalf("the account holding 3 MiB got the room (%d) before the one holding nothing", g)
	}
	quiet.Settle(mib)
	hog.Release(2 * mib) // down to half its share
	if g := <-hogNext; g != mib {
		t.Fatalf("hog got %d, want 1 MiB", g)
	}
	hog.Done()
	quiet.Done()
}

// A record larger than the whole budget is fetched alone, once nothing is
// held; not beside others.
func TestRecordLargerThanTheBudget(t *testing.T) {
	b := budget.New(mib)
	b.Observe(3 * mib)
	a, c := b.Open(), b.Open()
	g, err := a.Reserve(t.Context())
	if err != nil || g != 3*mib {
		t.Fatalf("grant = %d, %v; want one record of 3 MiB", g, err)
	}
	a.Settle(3 * mib)
	ch := reserveAsync(t.Context(), c)
	waiting(t, c)
	a.Release(3 * mib)
	if g := <-ch; g != 3*mib {
		t.Fatalf("grant once nothing is held = %d, want 3 MiB", g)
	}
	a.Done()
	c.Done()
}

// A Reserve whose context ends returns its error and leaves no reservation
// behind; a reservation unused (an empty fetch) is dropped by the next
// Reserve and by Done.
func TestReservationsDoNotLeak(t *testing.T) {
	b := budget.New(2 * mib)
	b.Observe(mib)
	a, c := b.Open(), b.Open()
	if _, err := a.Reserve(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.Settle(2 * mib)
	ctx, cancel := context.WithCancel(t.Context())
	ch := reserveAsync(ctx, c)
	waiting(t, c)
	cancel()
	if g := <-ch; g != -1 {
		t.Fatalf("Reserve with its context ended = %d, want an error", g)
	}
	if !c.WaitingSince().IsZero() {
		t.Error("still waiting after the context ended")
	}
	a.Release(2 * mib)
	if h := b.Held(); h != 0 {
		t.Fatalf("held %d after everything was released, want 0", h)
	}
	for range 3 { // empty fetches: nothing settled
		if _, err := c.Reserve(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if h := b.Held(); h > 2*mib {
		t.Fatalf("held %d after three unused reservations, want at most one", h)
	}
	c.Done()
	a.Done()
	if h := b.Held(); h != 0 {
		t.Fatalf("held %d after Done, want 0", h)
	}
	if _, err := c.Reserve(canceled()); !errors.Is(err, context.Canceled) && err != nil {
		t.Fatalf("Reserve = %v", err)
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// Many reads fetching, settling and releasing at once (commits come from
// other goroutines, as from an application) never hold more than the limit
// (records no larger than the largest seen), and every read gets room in
// the end.
func TestConcurrentReadsStayWithinTheLimit(t *testing.T) {
	const limit = 10 * mib
	b := budget.New(limit)
	b.Observe(64 << 10)
	var over atomic.Int64
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			a := b.Open()
			defer a.Done()
			// The application commits what it got, in order, on a
			// goroutine of its own.
			release := make(chan int64, 1000)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for n := range release {
					a.Release(n)
				}
			}()
			defer func() { close(release); <-done }()
			for range 200 {
				g, err := a.Reserve(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				got := int64(r.IntN(b.Records(g)+1)) * (64 << 10) // up to the records granted, of 64 KiB
				a.Settle(got)
				if h := b.Held(); h > limit {
					over.Store(h)
				}
				release <- got
			}
		})
	}
	wg.Wait()
	if h := over.Load(); h != 0 {
		t.Fatalf("held %d bytes, over the limit of %d", h, limit)
	}
	if h := b.Held(); h != 0 {
		t.Fatalf("held %d at the end, want 0", h)
	}
}
