// Command cluster is a consumer meant to run as several processes (workers)
// against one Kinesis stream and one DynamoDB lease table: kinesin.WithLeases
// splits the stream's shards among the running workers, moves a dead
// worker's shards to the others within the lease duration, rebalances when a
// worker joins or leaves, and hands shards over without delivering a record
// twice when a worker stops gracefully (Ctrl-C or SIGTERM).
//
// Each record read is printed on standard output, one line per record:
//
//	<worker> <shard id> <sequence number> <partition key> <data>
//
// and the lease changes of the worker on standard error.
//
// Against AWS, with the usual credentials and region, start as many as you
// like, anywhere, with the same -app, -stream and -table (and a distinct
// -worker each, or none for the default of host name, pid and random):
//
//	go run ./examples/cluster -stream orders -table kinesin-leases -app billing -worker a
//	go run ./examples/cluster -stream orders -table kinesin-leases -app billing -worker b
//
// Locally, against kinesalite or kinesis-local and dynalite or DynamoDB
// Local:
//
//	go run ./examples/cluster -kinesis-endpoint http://127.0.0.1:4567 \
//	    -dynamodb-endpoint http://127.0.0.1:8000 -create-stream 4 -worker a
//
// Flags (the endpoints can also come from the SDK's own environment
// variables AWS_ENDPOINT_URL_KINESIS and AWS_ENDPOINT_URL_DYNAMODB):
//
//	-stream             stream name or ARN (default "orders")
//	-app                consumer group name: the workers sharing the stream (default "cluster-example")
//	-table              DynamoDB lease table, created when missing (default "kinesin-leases")
//	-worker             this worker's id, unique among the running workers (default: host, pid, random)
//	-kinesis-endpoint   Kinesis endpoint URL (default: AWS)
//	-dynamodb-endpoint  DynamoDB endpoint URL (default: AWS)
//	-region             AWS region (default: from the environment; us-east-1 for local endpoints)
//	-start              where shards without a checkpoint start: latest or trim-horizon (default latest)
//	-create-stream      create the stream with this many shards when it does not exist (default 0: don't)
//	-lease-duration     lease duration: how long a dead worker's shards wait (default 10s)
//	-cycle              lease cycle: how often leases are balanced (default 2s)
//	-checkpoint         checkpoint interval (default 5s)
//
// When both services are local and no AWS credentials are configured, it
// signs requests with a dummy key, which emulators accept.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/dynamolease"
)

type flags struct {
	stream, app, table, worker      string
	kinesisEndpoint, dynamoEndpoint string
	region, start                   string
	createStream                    int
	leaseDuration, cycle            time.Duration
	checkpoint                      time.Duration
}

func main() {
	var f flags
	flag.StringVar(&f.stream, "stream", "orders", "stream name or ARN")
	flag.StringVar(&f.app, "app", "cluster-example", "consumer group name: the workers sharing the stream")
	flag.StringVar(&f.table, "table", "kinesin-leases", "DynamoDB lease table, created when missing")
	flag.StringVar(&f.worker, "worker", "", "this worker's id, unique among the running workers (default: host, pid, random)")
	flag.StringVar(&f.kinesisEndpoint, "kinesis-endpoint", "", "Kinesis endpoint URL (default: AWS)")
	flag.StringVar(&f.dynamoEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL (default: AWS)")
	flag.StringVar(&f.region, "region", "", "AWS region (default: from the environment; us-east-1 for local endpoints)")
	flag.StringVar(&f.start, "start", "latest", "where shards without a checkpoint start: latest or trim-horizon")
	flag.IntVar(&f.createStream, "create-stream", 0, "create the stream with this many shards when it does not exist (0: don't)")
	flag.DurationVar(&f.leaseDuration, "lease-duration", lease.DefaultLeaseDuration, "lease duration: how long a dead worker's shards wait")
	flag.DurationVar(&f.cycle, "cycle", lease.DefaultCycleInterval, "lease cycle: how often leases are balanced")
	flag.DurationVar(&f.checkpoint, "checkpoint", kinesin.DefaultCheckpointInterval, "checkpoint interval")
	flag.Parse()
	if err := run(f); err != nil {
		fmt.Fprintln(os.Stderr, "cluster example:", err)
		os.Exit(1)
	}
}

func run(f flags) error {
	ctx := context.Background()
	var start kinesin.StartPosition
	switch f.start {
	case "latest":
		start = kinesin.Latest
	case "trim-horizon":
		start = kinesin.TrimHorizon
	default:
		return fmt.Errorf("-start %q: want latest or trim-horizon", f.start)
	}
	cfg, err := awsConfig(ctx, f.region, f.kinesisEndpoint != "" && f.dynamoEndpoint != "")
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if f.dynamoEndpoint != "" {
			o.BaseEndpoint = aws.String(f.dynamoEndpoint)
		}
	})
	if err := dynamolease.CreateTable(ctx, db, f.table); err != nil {
		return err
	}
	client := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if f.kinesisEndpoint != "" {
			o.BaseEndpoint = aws.String(f.kinesisEndpoint)
		}
	})
	if f.createStream > 0 {
		if err := createStream(ctx, client, f.stream, f.createStream); err != nil {
			return err
		}
	}

	leaseOpts := []lease.Option{lease.WithLeaseDuration(f.leaseDuration), lease.WithCycleInterval(f.cycle)}
	if f.worker != "" {
		leaseOpts = append(leaseOpts, lease.WithWorkerID(f.worker))
	}
	var worker string
	say := func(event string) func(string) {
		return func(shard string) { fmt.Fprintf(os.Stderr, "%s %s %s\n", worker, event, shard) }
	}
	st, err := kinesin.Open(ctx, f.stream, kinesin.String,
		kinesin.WithClient(client),
		kinesin.WithApp(f.app),
		kinesin.WithStart(start),
		kinesin.WithCheckpointInterval(f.checkpoint),
		kinesin.WithLeases(dynamolease.New(db, f.table), leaseOpts...),
		kinesin.WithShardHooks(kinesin.ShardHooks{OnAssigned: say("assigned"), OnRevoked: say("revoked"), OnLost: say("lost")}),
	)
	if err != nil {
		return err
	}
	worker = st.WorkerID()
	fmt.Fprintf(os.Stderr, "%s started\n", worker)

	// Ctrl-C or SIGTERM: Close, from this goroutine, hands the shards over:
	// it waits for the record being processed to be committed, writes the
	// checkpoints and releases the leases, and the loop below ends.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		signal.Stop(sig)
		fmt.Fprintf(os.Stderr, "%s stopping\n", worker)
		st.Close()
	}()

	n := 0
	for rec, err := range st.Records() {
		if rec == nil { // a fatal error ends the stream
			return err
		}
		fmt.Printf("%s %s %s %s %s\n", worker, rec.ShardID, rec.SequenceNumber, rec.PartitionKey, rec.Value)
		rec.Commit()
		n++
	}
	if err := st.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s stopped after %d records\n", worker, n)
	return nil
}

// createStream creates the stream unless it exists, and waits until it is
// ACTIVE.
func createStream(ctx context.Context, client *kinesis.Client, name string, shards int) error {
	_, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("creating stream %s: %w", name, err)
	}
	return kinesis.NewStreamExistsWaiter(client, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	}).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, time.Minute)
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
