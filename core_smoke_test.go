package kinesin_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/polling"
)

func TestCoreSmoke(t *testing.T) {
	fake := kinesistest.New(t)
	fake.CreateStream("orders", 4)
	const n = 2000
	for i := range n {
		fake.Put("orders", fmt.Sprintf("pk-%d", i%50), []byte(fmt.Sprintf(`{"id":%d}`, i)))
	}
	type order struct{ ID int `json:"id"` }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := kinesin.Open(ctx, "orders", kinesin.JSON[order], kinesin.WithClient(fake.Client()), kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithPolling(polling.Options{MinInterval: time.Millisecond, IdleInterval: 10 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for rec, err := range st.Records() {
		if err != nil {
			t.Fatal(err)
		}
		seen[rec.Value.ID] = true
		rec.Commit()
		if len(seen) == n {
			break
		}
	}
	if len(seen) != n {
		t.Fatalf("saw %d", len(seen))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
