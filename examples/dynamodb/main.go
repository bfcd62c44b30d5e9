// Command dynamodb consumes a Kinesis stream with kinesin and keeps its
// checkpoints in a DynamoDB table, so that a restart resumes after the last
// committed record instead of reading the stream again.
//
// Against AWS, with the usual credentials, region and an existing stream:
//
//	go run ./examples/dynamodb -stream orders -table kinesin-checkpoints -app billing
//
// Locally, with the in-memory Kinesis of package kinesistest (-fake, which
// fills the stream with the same -records records on every run) and dynalite
// or DynamoDB Local for the table:
//
//	go run ./examples/dynamodb -fake -dynamodb-endpoint http://127.0.0.1:8000 -max 40
//	go run ./examples/dynamodb -fake -dynamodb-endpoint http://127.0.0.1:8000
//
// The first run reads 40 records and stops; the second resumes after them.
// Or point -kinesis-endpoint at kinesalite or kinesis-local.
//
// Flags (the endpoints can also come from the SDK's own environment
// variables AWS_ENDPOINT_URL_KINESIS and AWS_ENDPOINT_URL_DYNAMODB):
//
//	-stream             stream name or ARN (default "orders")
//	-app                consumer group name, the checkpoints' namespace (default "dynamodb-example")
//	-table              DynamoDB table of the checkpoints (default "kinesin-checkpoints")
//	-create-table       create the table when missing (default true)
//	-kinesis-endpoint   Kinesis endpoint URL (default: AWS)
//	-dynamodb-endpoint  DynamoDB endpoint URL (default: AWS)
//	-region             AWS region (default: from the environment; us-east-1 for local endpoints)
//	-fake               use an in-memory Kinesis holding -records records in -shards shards
//	-max                stop after this many records (default 0: no limit)
//	-idle               stop after this long without a record (default 0: never; 2s with -fake)
//
// When both services are local (-fake or -kinesis-endpoint, and
// -dynamodb-endpoint) and no AWS credentials are configured, it signs
// requests with a dummy key, which emulators accept.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/dynamocheckpoint"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// Event is what the stream holds, as JSON.
type Event struct {
	ID   int    `json:"id"`
	User string `json:"user"`
}

type flags struct {
	stream, app, table              string
	kinesisEndpoint, dynamoEndpoint string
	region                          string
	createTable, fake               bool
	records, shards, max            int
	idle                            time.Duration
}

func main() {
	var f flags
	flag.StringVar(&f.stream, "stream", "orders", "stream name or ARN")
	flag.StringVar(&f.app, "app", "dynamodb-example", "consumer group name: the checkpoints' namespace")
	flag.StringVar(&f.table, "table", "kinesin-checkpoints", "DynamoDB table of the checkpoints")
	flag.BoolVar(&f.createTable, "create-table", true, "create the table when missing (PAY_PER_REQUEST)")
	flag.StringVar(&f.kinesisEndpoint, "kinesis-endpoint", "", "Kinesis endpoint URL (default: AWS)")
	flag.StringVar(&f.dynamoEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL (default: AWS)")
	flag.StringVar(&f.region, "region", "", "AWS region (default: from the environment; us-east-1 for local endpoints)")
	flag.BoolVar(&f.fake, "fake", false, "use an in-memory Kinesis (package kinesistest) filled with -records records")
	flag.IntVar(&f.records, "records", 100, "with -fake: records in the stream")
	flag.IntVar(&f.shards, "shards", 2, "with -fake: shards of the stream")
	flag.IntVar(&f.max, "max", 0, "stop after this many records (0: no limit)")
	flag.DurationVar(&f.idle, "idle", 0, "stop after this long without a record (0: never; 2s with -fake)")
	flag.Parse()
	if f.fake && f.idle == 0 {
		f.idle = 2 * time.Second
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, f); err != nil {
		fmt.Fprintln(os.Stderr, "dynamodb example:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, f flags) error {
	allLocal := (f.fake || f.kinesisEndpoint != "") && f.dynamoEndpoint != ""
	cfg, err := awsConfig(ctx, f.region, allLocal)
	if err != nil {
		return err
	}

	// The checkpoint store.
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if f.dynamoEndpoint != "" {
			o.BaseEndpoint = aws.String(f.dynamoEndpoint)
		}
	})
	if f.createTable {
		if err := dynamocheckpoint.CreateTable(ctx, db, f.table); err != nil {
			return err
		}
	}
	store := dynamocheckpoint.New(db, f.table)
	before, err := store.Load(ctx, f.app, f.stream)
	if err != nil {
		return err
	}
	printCheckpoints("checkpoints at start", before)

	// The Kinesis client.
	var client kinesin.KinesisAPI
	if f.fake {
		fake := kinesistest.New(nil)
		defer fake.Close()
		if err := fill(fake, f.stream, f.shards, f.records); err != nil {
			return err
		}
		client = fake.Client()
	} else {
		client = kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
			if f.kinesisEndpoint != "" {
				o.BaseEndpoint = aws.String(f.kinesisEndpoint)
			}
		})
	}

	st, err := kinesin.Open(ctx, f.stream, kinesin.JSON[Event],
		kinesin.WithClient(client),
		kinesin.WithCheckpointer(store),
		kinesin.WithApp(f.app),
		kinesin.WithStart(kinesin.TrimHorizon), // for shards without a checkpoint
	)
	if err != nil {
		return err
	}
	defer st.Close()

	// Stop after -idle without a record: Close ends the loop below.
	var idle *time.Timer
	var idled atomic.Bool
	if f.idle > 0 {
		idle = time.AfterFunc(f.idle, func() { idled.Store(true); st.Close() })
		defer idle.Stop()
	}

	n := 0
	start := time.Now()
	var loopErr error
	for rec, err := range st.Records() {
		if rec == nil { // a fatal error ends the stream
			loopErr = err
			break
		}
		if idle != nil {
			idle.Reset(f.idle)
		}
		if err != nil { // a record the decoder rejected: skip it
			fmt.Fprintf(os.Stderr, "skipping %s/%s: %v\n", rec.ShardID, rec.SequenceNumber, err)
			rec.Commit()
			continue
		}
		fmt.Printf("%-20s %s  event %4d from %s\n", rec.ShardID, rec.SequenceNumber, rec.Value.ID, rec.Value.User)
		rec.Commit()
		if n++; n == f.max {
			break // closes the stream, writing the committed positions
		}
	}
	// Close writes the positions committed since the last checkpoint.
	closeErr := st.Close()
	if loopErr != nil && !errors.Is(loopErr, context.Canceled) {
		return loopErr
	}
	if closeErr != nil && !errors.Is(closeErr, context.Canceled) {
		return closeErr
	}
	why := "stopped"
	switch {
	case f.max > 0 && n == f.max:
		why = fmt.Sprintf("read -max %d records", f.max)
	case idled.Load():
		why = fmt.Sprintf("no record for %v", f.idle)
	case ctx.Err() != nil:
		why = "interrupted"
	}
	fmt.Printf("\n%d records in %v (%s)\n", n, time.Since(start).Round(time.Millisecond), why)

	after, err := store.Load(context.WithoutCancel(ctx), f.app, f.stream)
	if err != nil {
		return err
	}
	printCheckpoints("checkpoints at exit", after)
	return nil
}

// awsConfig loads the SDK's default configuration. When every service is
// local it does not ask EC2 instance metadata, defaults the region to
// us-east-1 and, when no credentials are found, signs with a dummy key.
func awsConfig(ctx context.Context, region string, allLocal bool) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if allLocal {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if !allLocal {
		if cfg.Region == "" {
			return aws.Config{}, errors.New("no AWS region: set AWS_REGION or -region")
		}
		return cfg, nil
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Credentials == nil {
		cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
	} else if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
	}
	return cfg, nil
}

// fill creates the stream in the fake and puts n events into it. The fake
// hands out the same sequence numbers on every run, so that a run resumes
// from the checkpoints of the previous one.
func fill(fake *kinesistest.Fake, stream string, shards, n int) error {
	if err := fake.CreateStream(stream, shards); err != nil {
		return err
	}
	users := []string{"ada", "grace", "linus", "ken", "barbara", "edsger", "margaret"}
	for i := range n {
		u := users[i%len(users)]
		data := fmt.Appendf(nil, `{"id":%d,"user":%q}`, i, u)
		if _, err := fake.Put(stream, u, data); err != nil {
			return err
		}
	}
	return nil
}

func printCheckpoints(title string, cps map[string]checkpoint.Checkpoint) {
	fmt.Printf("%s:", title)
	if len(cps) == 0 {
		fmt.Print(" none")
	}
	fmt.Println()
	for _, shard := range slices.Sorted(maps.Keys(cps)) {
		fmt.Printf("  %-20s %v\n", shard, cps[shard])
	}
}
