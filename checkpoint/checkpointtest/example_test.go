package checkpointtest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/memory"
)

// A store that is down for one Save, then back: what a consumer's
// checkpoint writes see during a short outage.
func ExampleFaulty() {
	ctx := context.Background()
	store := checkpointtest.NewFaulty(nil, memory.New()) // in a test: NewFaulty(t, ...)
	store.Script(checkpointtest.Match{Op: checkpointtest.OpSave},
		checkpointtest.Fail(errors.New("store down")), checkpointtest.Pass)
	cps := map[string]checkpoint.Checkpoint{"shardId-000000000000": checkpoint.At("42")}
	for range 2 {
		fmt.Println(store.Save(ctx, "billing", "orders", cps))
	}
	fmt.Println(store.Calls(checkpointtest.OpSave), "saves")
	// Output:
	// checkpointtest: injected fault on Save billing/orders: store down
	// <nil>
	// 2 saves
}
