package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
)

func TestBackoff(t *testing.T) {
	b := Backoff(100*time.Millisecond, time.Second)
	lo, hi := 70*time.Millisecond, 130*time.Millisecond // ±30%
	for i := range 20 {
		d := b.NextBackOff()
		if d == backoff.Stop {
			t.Fatalf("wait %d: the backoff gave up", i)
		}
		if d < lo || d > hi {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, d, lo, hi)
		}
		lo, hi = min(lo*3/2, 700*time.Millisecond), min(hi*3/2, 1300*time.Millisecond)
	}
	b.Reset()
	if d := b.NextBackOff(); d < 70*time.Millisecond || d > 130*time.Millisecond {
		t.Errorf("first wait after Reset = %v, want about 100ms", d)
	}
}

func TestSleepUntil(t *testing.T) {
	start := time.Now()
	if err := SleepUntil(t.Context(), start.Add(20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 20*time.Millisecond {
		t.Errorf("SleepUntil returned after %v, want 20ms", elapsed)
	}
	if err := SleepUntil(t.Context(), start); err != nil {
		t.Errorf("SleepUntil of a past time = %v, want nil", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := SleepUntil(ctx, time.Now().Add(time.Hour)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SleepUntil past the deadline = %v, want context.DeadlineExceeded", err)
	}
	if err := SleepUntil(ctx, start); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SleepUntil of a past time with a done context = %v, want its error", err)
	}
}
