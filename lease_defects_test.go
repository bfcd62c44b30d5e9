package kinesin_test

// Reproductions of lease defects found by the chaos soak (internal/chaos):
// fencing after the local expiry of a lease (issue 12), and a lease acted
// on after it went, its Acquired heard late.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/internal/testsync"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

// A worker cut off from its lease store stops handing out a shard's records
// once its own view of the lease is no longer valid, without waiting for a
// store call: never after another worker was given the shard.
//
// Two workers share two shards. The lease store stops answering one of them
// (its calls hang, as in a partition or a frozen store connection) while
// records keep coming. That worker cannot renew: its leases are no longer
// valid for it 90% of the lease duration after its last renewal, and the
// other worker takes them once they expire (the lease duration after it saw
// them last change). From then on the cut-off worker must hand out nothing
// of those shards.
//
// The cut-off worker lists shards every 250ms (WithShardSyncInterval), so its
// scheduler soon calls the store too (Sync, after each listing) and waits
// on it: what stops the handing out must not depend on that goroutine
// being free. (With the default WithShardSyncInterval of 30s the scheduler is
// usually free when the Lost event comes, and the worker stops in time.)
func TestReproFencingAfterLocalExpiry(t *testing.T) {
	fake := newFake(t, 2)
	store := memlease.New()
	c := newLeaseCluster(t, pollingMode, fake, store, kinesin.WithShardSyncInterval(250*time.Millisecond))
	p := startLeaseProducer(t, fake, 20, 1, 5*time.Millisecond)
	cut := leasetest.NewFaulty(t, store) // the store as the worker to be cut off reaches it
	c.join("cut", cut)
	c.join("other", nil)
	t.Cleanup(cut.Clear) // before the workers close
	c.waitShape(15*time.Second, "[1 1]", "cut", "other")
	owners, _ := c.owners()
	shards := owners["cut"]
	eventually(t, 5*time.Second, func() bool {
		return len(c.ledger.firstBy(shards, "other", time.Now().Add(-time.Second))) == len(shards)
	},
		"the worker to be cut off reading its shards")

	cut.Inject(leasetest.Fault{Action: leasetest.Hang})
	cutAt := time.Now()
	c.waitTaken(leaseTestDuration+leaseTestCycle+leaseSlack+5*time.Second, shards, "cut", cutAt)
	// Let the new owner read a while: about a second of records put after
	// it took the shards, then a marker it must reach. The cut-off worker
	// had as long to show whether it still hands out the same shards.
	for _, sh := range shards {
		info := shardInfo(t, fake, sh)
		eventually(t, 10*time.Second, func() bool { return shardInfo(t, fake, sh).Records >= info.Records+100 },
			"the producer putting 100 more records into %s", sh)
		marker := "marker-" + sh
		if _, err := fake.PutWithHashKey(testStream, marker, info.StartingHashKey, itemJSON(item{Key: marker})); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() bool { return c.ledger.deliveredKey("other", marker) },
			"the new owner of %s delivering the marker put after 100 more records", sh)
	}

	var problems []string
	for _, sh := range shards {
		assigned, _ := c.ledger.hookTime("other", "assigned", sh)
		late := c.ledger.deliveredBy("cut", sh, assigned)
		afterExpiry := c.ledger.deliveredBy("cut", sh, cutAt.Add(leaseTestDuration))
		lost := "ShardHooks.OnLost never called"
		if at, ok := c.ledger.hookTime("cut", "lost", sh); ok {
			lost = fmt.Sprintf("ShardHooks.OnLost called %v after the cut", at.Sub(cutAt).Round(time.Millisecond))
		}
		if late > 0 || afterExpiry > 0 {
			problems = append(problems, fmt.Sprintf("%s: the other worker was assigned it %v after the cut; the cut-off worker then still handed out %d of its records "+
				"(%d later than the lease duration %v after the cut); %s",
				sh, assigned.Sub(cutAt).Round(time.Millisecond), late, afterExpiry, leaseTestDuration, lost))
		}
	}
	cut.Clear()
	p.halt()
	if len(problems) > 0 {
		t.Errorf("a worker whose lease store stopped answering kept handing out records of shards another worker was reading "+
			"(lease duration %v, cycle %v; its leases are no longer valid for it %v after its last renewal):\n%s",
			leaseTestDuration, leaseTestCycle, leaseTestDuration*9/10, strings.Join(problems, "\n"))
	}
}

// shardInfo describes shard id of testStream.
func shardInfo(t *testing.T, fake *kinesistest.Fake, id string) kinesistest.ShardInfo {
	t.Helper()
	infos, err := fake.Shards(testStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range infos {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no shard %s in %v", id, infos)
	return kinesistest.ShardInfo{}
}

// deliveredKey reports whether worker delivered a record of key.
func (l *leaseLedger) deliveredKey(worker, key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range l.all {
		if d.worker == worker && d.key == key {
			return true
		}
	}
	return false
}

// A lease a worker's scheduler hears of only after it went is not acted on:
// no ShardHooks.OnAssigned, no read, and no OnLost for it either. Found by
// the chaos soak: a worker whose scheduler was held up for seconds (a
// listing retried behind ListShards errors) called OnAssigned for a lease
// its Manager had already given up, half a second after another worker took
// the shard.
//
// Here the scheduler of worker "slow" is held in a listing (its ListShards
// calls wait on a gate) while its Manager takes a shard from "other" (the
// balance is one each), then cannot renew it (its store calls hang): the
// lease expires locally and "other" takes the shard back. Then the store
// answers, the Manager sends Lost, the gate opens, and the scheduler
// handles the Acquired and the Lost.
func TestLeaseAcquiredAfterItWentIsIgnored(t *testing.T) {
	fake := newFake(t, 2)
	store := memlease.New()
	c := newLeaseCluster(t, pollingMode, fake, store, kinesin.WithShardSyncInterval(100*time.Millisecond))
	c.join("other", nil)
	c.waitShape(15*time.Second, "[2]", "other")
	slow := leasetest.NewFaulty(t, store)
	gated := &gatedLists{KinesisAPI: fake.Client(), open: make(chan struct{})}
	t.Cleanup(gated.release) // before the workers close
	t.Cleanup(slow.Clear)
	w := c.joinWith("slow", slow, []kinesin.Option{kinesin.WithClient(gated)})
	gated.closed.Store(true)
	gated.held.WaitUntil(t, 10*time.Second, "the scheduler of slow listing the shards", func() bool { return gated.waiting.Load() > 0 })
	var shard string
	eventually(t, 15*time.Second, func() bool {
		owners, _ := c.owners()
		if len(owners["slow"]) == 1 {
			shard = owners["slow"][0]
			return true
		}
		return false
	}, "slow taking a shard from other")
	slow.Inject(leasetest.Fault{Action: leasetest.Hang}) // every call of slow's to the store
	c.waitShape(15*time.Second, "[2]", "other", "slow")
	slow.Clear()
	gated.release()
	eventually(t, 10*time.Second, func() bool {
		for _, s := range w.st.Stats().Shards {
			if s.ShardID == shard && s.State == kinesin.ShardHandedOver {
				return true
			}
		}
		return false
	}, "slow handling the loss of %s", shard)
	if at, ok := c.ledger.hookTime("slow", "assigned", shard); ok {
		taken, _ := c.ledger.hookTime("other", "assigned", shard)
		t.Errorf("slow's OnAssigned was called for %s at %v, after other took it back (%v): its lease was already gone",
			shard, at.Format("15:04:05.000"), taken.Format("15:04:05.000"))
	}
	if _, ok := c.ledger.hookTime("slow", "lost", shard); ok {
		t.Errorf("slow's OnLost was called for %s, whose acquisition it was never told of", shard)
	}
	if n := c.ledger.deliveredBy("slow", shard, time.Time{}); n > 0 {
		t.Errorf("slow handed out %d records of %s", n, shard)
	}
}

// gatedLists is a Kinesis client whose ListShards calls wait, while closed,
// until release; held is notified when one waits.
type gatedLists struct {
	kinesin.KinesisAPI
	closed  atomic.Bool
	open    chan struct{}
	once    sync.Once
	waiting atomic.Int32
	held    testsync.Signal
}

func (g *gatedLists) ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	if g.closed.Load() {
		g.held.Mu.Lock()
		g.waiting.Add(1)
		g.held.Notify()
		g.held.Mu.Unlock()
		defer g.waiting.Add(-1)
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.KinesisAPI.ListShards(ctx, in, optFns...)
}

func (g *gatedLists) release() {
	g.once.Do(func() {
		g.closed.Store(false)
		close(g.open)
	})
}
