package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	harlow "github.com/harlow/kinesis-consumer"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/polling"
)

// A sink takes each record's data as a consumer delivers it, from any
// goroutine, and returns false when the consumer should stop.
type sink func(data []byte) bool

// A runner is one consumer with its settings: run reads the stream through
// client, handing every record to sink, until sink returns false or ctx
// ends (not an error).
type runner struct {
	// Name is the consumer, unique within a scenario: "kinesin",
	// "kinesin EFO", "harlow v0.5.0", "bare SDK loop".
	Name string
	// Settings says how it is configured in that scenario.
	Settings string
	run      func(ctx context.Context, client *kinesis.Client, sink sink) error
}

// A kinesinVariant is a configuration of kinesin run by every scenario, one
// row each. Its options come after the scenario's (client, start position,
// polling pacing of the backlog), so a variant can turn on what the defaults
// leave off, such as a byte budget or another response decoder, and be
// compared with the defaults in the same run.
type kinesinVariant struct {
	// Name labels its rows; the first variant is the one held against the
	// targets.
	Name string
	// Note says what Opts change, for the settings column.
	Note string
	Opts []kinesin.Option
}

// kinesinVariants are the kinesin configurations every scenario runs. To
// compare an option with the defaults, add a variant with it, such as
//
//	{Name: "kinesin 64MiB", Note: "a 64 MiB memory budget", Opts: []kinesin.Option{kinesin.WithMemoryBudget(64 << 20)}},
//
// and every scenario gets a row of it beside the defaults' (with Enhanced
// Fan-Out too, named Name+" EFO", where a scenario reads with it).
var kinesinVariants = []kinesinVariant{
	{Name: "kinesin", Note: "", Opts: nil},
}

// harlowName labels the rows of github.com/harlow/kinesis-consumer.
const harlowName = "harlow v0.5.0"

// bareName labels the rows of the bare SDK loop.
const bareName = "bare SDK loop"

// efoConsumer is the Enhanced Fan-Out consumer kinesin registers.
const efoConsumer = "bench"

// unpaced is kinesin's polling without pacing: a call as soon as the last
// one's records are handed over, however many bytes it read (as the bare
// loop does), and 1 ms between calls at the tip.
var unpaced = polling.Options{MinInterval: time.Nanosecond, IdleInterval: time.Millisecond, ReadRate: 1 << 40}

// unpacedSettings describes unpaced.
const unpacedSettings = "polling, MinInterval 1ns, IdleInterval 1ms, ReadRate 1 TiB/s (unpaced)"

// kinesinRunner returns variant v of kinesin reading with the scenario's
// options (then v's), labelled name with settings.
func kinesinRunner(v kinesinVariant, name, settings string, scenario ...kinesin.Option) runner {
	if v.Note != "" {
		settings += "; " + v.Note
	}
	return runner{Name: name, Settings: settings, run: func(ctx context.Context, client *kinesis.Client, sink sink) error {
		opts := append([]kinesin.Option{kinesin.WithClient(client)}, scenario...)
		opts = append(opts, v.Opts...)
		st, err := kinesin.Open(ctx, streamName, kinesin.Bytes, opts...)
		if err != nil {
			return err
		}
		for rec, err := range st.Records() {
			if err != nil {
				st.Close()
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			more := sink(rec.Data)
			rec.Commit()
			if !more {
				break
			}
		}
		if err := st.Close(); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	}}
}

// lineup returns the consumers of a scenario: the bare loop (when bare),
// each kinesin variant with the scenario's kinesin options, and harlow with
// its options; each with the settings that describe them.
func lineup(bare bool, kinesinSettings string, kinesinOpts []kinesin.Option, harlowSettings string, harlowOpts ...harlow.Option) []runner {
	var rs []runner
	if bare {
		rs = append(rs, bareRunner())
	}
	for _, v := range kinesinVariants {
		rs = append(rs, kinesinRunner(v, v.Name, kinesinSettings, kinesinOpts...))
	}
	return append(rs, harlowRunner(harlowSettings, harlowOpts...))
}

// harlowRunner returns github.com/harlow/kinesis-consumer with its
// options, labelled with settings.
func harlowRunner(settings string, opts ...harlow.Option) runner {
	return runner{Name: harlowName, Settings: settings, run: func(ctx context.Context, client *kinesis.Client, sink sink) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		c, err := harlow.New(streamName, append([]harlow.Option{harlow.WithClient(client)}, opts...)...)
		if err != nil {
			return err
		}
		err = c.Scan(ctx, func(r *harlow.Record) error {
			if !sink(r.Data) {
				cancel()
			}
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		return err
	}}
}

// bareRunner returns a loop of the SDK's GetRecords, one goroutine per
// shard from TRIM_HORIZON, as fast as the fake answers, each ending at its
// shard's tip: the least any consumer can do on this fake.
func bareRunner() runner {
	return runner{Name: bareName, Settings: "GetRecords Limit 10,000, one goroutine per shard, no pacing, stops at the tip",
		run: func(ctx context.Context, client *kinesis.Client, sink sink) error {
			shards, err := listShards(ctx, client)
			if err != nil {
				return err
			}
			var wg sync.WaitGroup
			errs := make([]error, len(shards))
			for i, id := range shards {
				wg.Go(func() { errs[i] = bareShard(ctx, client, id, sink) })
			}
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return errors.Join(errs...)
		}}
}

// bareShard reads one shard until its tip, the end of ctx or sink says stop.
func bareShard(ctx context.Context, client *kinesis.Client, shard string, sink sink) error {
	it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(streamName),
		ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		return err
	}
	iter := it.ShardIterator
	for iter != nil {
		out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
		if err != nil {
			return err
		}
		for i := range out.Records {
			if !sink(out.Records[i].Data) {
				return nil
			}
		}
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			return nil
		}
		iter = out.NextShardIterator
	}
	return nil
}

// listShards returns the ids of every shard of the stream, page by page.
func listShards(ctx context.Context, client *kinesis.Client) ([]string, error) {
	var ids []string
	in := &kinesis.ListShardsInput{StreamName: aws.String(streamName)}
	for {
		out, err := client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing shards: %w", err)
		}
		for _, sh := range out.Shards {
			ids = append(ids, aws.ToString(sh.ShardId))
		}
		if out.NextToken == nil {
			return ids, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// pick returns the runner of runners named name.
func pick(runners []runner, name string) (runner, error) {
	for _, r := range runners {
		if r.Name == name {
			return r, nil
		}
	}
	return runner{}, fmt.Errorf("no consumer %q", name)
}
