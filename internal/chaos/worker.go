package chaos

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/dynamolease"
	"github.com/kinesin-go/kinesin/polling"
)

// The readers' timings in the soak: an emulator answers at once, so the
// waits are short, but several workers of a loaded machine share it.
var (
	soakPolling = polling.Options{
		MinInterval:    20 * time.Millisecond,
		IdleInterval:   50 * time.Millisecond,
		InitialBackoff: 20 * time.Millisecond,
		MaxBackoff:     500 * time.Millisecond,
	}
	soakEFO = efo.Options{
		SubscribeInterval: 20 * time.Millisecond,
		InitialBackoff:    10 * time.Millisecond,
		MaxBackoff:        500 * time.Millisecond,
		RegisterTimeout:   30 * time.Second,
	}
)

// RunWorker is the worker subcommand: it consumes a stream with kinesin.Open
// and WithLeases on a DynamoDB lease table, and logs (see Event) every record
// handed out, every commit, the lease callbacks, its start, Close and exit.
// Each record is committed after a random delay of up to -max-commit-delay,
// as processing would. SIGTERM (or SIGINT) closes the stream (a graceful
// handoff); the end of its standard input (its parent died) exits at once.
// kinesin's and the lease manager's logs (Info and above) go to standard
// error.
//
// crash ends the process at once, as a crash would: RunWorker calls it
// when its parent died.
func RunWorker(args []string, crash func()) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	endpoint := fs.String("kinesis", "", "Kinesis endpoint URL")
	dynamo := fs.String("dynamodb", "", "DynamoDB endpoint URL")
	table := fs.String("table", "", "lease table")
	app := fs.String("app", "chaos", "consumer group")
	stream := fs.String("stream", "orders", "stream name")
	mode := fs.String("mode", "polling", "polling or efo")
	consumer := fs.String("consumer", "chaos", "EFO consumer name")
	name := fs.String("name", "", "this process's name in the logs")
	leaseID := fs.String("lease-id", "", "the lease worker id (default: -name)")
	leaseDuration := fs.Duration("lease-duration", 2*time.Second, "lease duration")
	cycle := fs.Duration("cycle", 200*time.Millisecond, "lease cycle")
	checkpointEvery := fs.Duration("checkpoint", 100*time.Millisecond, "checkpoint interval")
	closeTimeout := fs.Duration("close-timeout", 5*time.Second, "Close's timeout")
	maxDelay := fs.Duration("max-commit-delay", 20*time.Millisecond, "longest delay before a record is committed")
	logPath := fs.String("log", "", "log file")
	seed := fs.Uint64("seed", 1, "seed of the commit delays")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *endpoint == "" || *dynamo == "" || *table == "" || *name == "" || *logPath == "" {
		return fmt.Errorf("worker: -kinesis, -dynamodb, -table, -name and -log are required")
	}
	if *leaseID == "" {
		*leaseID = *name
	}
	log, err := CreateLog(*logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	w := *name
	log.Write(Event{Ev: EvStart, W: w, Detail: *leaseID})
	exit := func(why string) { log.Write(Event{Ev: EvExit, W: w, Detail: why}) }

	// The parent died: leave as a crash would.
	go func() {
		<-parentGone()
		exit("parent gone")
		crash()
	}()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("w", w)
	hook := func(ev string) func(string) {
		return func(shard string) { log.Write(Event{Ev: ev, W: w, Shard: shard}) }
	}
	opts := []kinesin.Option{
		kinesin.WithClient(kinesisClient(*endpoint)),
		kinesin.WithApp(*app),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithCheckpointInterval(*checkpointEvery),
		kinesin.WithCloseTimeout(*closeTimeout),
		kinesin.WithLogger(logger),
		kinesin.WithLeases(dynamolease.New(dynamoClient(*dynamo), *table),
			lease.WithWorkerID(*leaseID), lease.WithLeaseDuration(*leaseDuration), lease.WithCycleInterval(*cycle), lease.WithLogger(logger)),
		kinesin.WithShardHooks(kinesin.ShardHooks{OnAssigned: hook(EvAssigned), OnRevoked: hook(EvRevoked), OnLost: hook(EvLost)}),
	}
	switch *mode {
	case "polling":
		opts = append(opts, kinesin.WithPolling(soakPolling))
	case "efo":
		opts = append(opts, kinesin.WithEFO(*consumer), kinesin.WithEFOOptions(soakEFO))
	default:
		return fmt.Errorf("worker: -mode %q: want polling or efo", *mode)
	}

	// Caught from now on: a SIGTERM during Open closes the stream once open.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	st, err := kinesin.Open(context.Background(), *stream, kinesin.JSON[Item], opts...)
	if err != nil {
		log.Write(Event{Ev: EvOpen, W: w, Detail: err.Error()})
		exit("Open failed")
		return fmt.Errorf("worker %s: Open: %w", w, err)
	}
	log.Write(Event{Ev: EvOpen, W: w})

	// SIGTERM: Close, from another goroutine than the one receiving
	// records, hands the shards over once the records handed out are
	// committed.
	closed := make(chan error, 1)
	var terminated atomic.Bool
	go func() {
		<-sig
		signal.Stop(sig)
		terminated.Store(true)
		log.Write(Event{Ev: EvTerm, W: w})
		err := st.Close()
		detail := ""
		if err != nil {
			detail = err.Error()
		}
		log.Write(Event{Ev: EvClosed, W: w, Detail: detail})
		closed <- err
	}()

	rng := rand.New(rand.NewPCG(*seed, uint64(os.Getpid())))
	for rec := range st.Chan() {
		at := time.Now().UnixNano() // before anything else: when it was handed out
		ev := Event{T: at, Ev: EvRecord, W: w, Shard: rec.ShardID, Seq: rec.SequenceNumber, Key: rec.Value.Key, N: rec.Value.N}
		if rec.Err() != nil {
			ev.Detail = rec.Err().Error()
		}
		log.Write(ev)
		commit := func() {
			rec.Commit()
			log.Write(Event{Ev: EvCommit, W: w, Shard: rec.ShardID, Seq: rec.SequenceNumber})
		}
		if d := time.Duration(rng.Int64N(int64(*maxDelay) + 1)); d > 0 {
			time.AfterFunc(d, commit)
		} else {
			commit()
		}
	}
	// The channel closed: Close (SIGTERM), which closes it before it hands
	// the shards over, or a fatal error.
	if terminated.Load() {
		if err := <-closed; err != nil {
			exit("Close failed: " + err.Error())
			return fmt.Errorf("worker %s: Close: %w", w, err)
		}
		exit("closed")
		return nil
	}
	err = st.Err()
	exit(fmt.Sprintf("the stream ended by itself: %v", err))
	return fmt.Errorf("worker %s: the stream ended: %v", w, err)
}

// dynamoClient returns a DynamoDB client of endpoint, with test credentials.
func dynamoClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  testCredentials,
		HTTPClient:   &http.Client{Transport: loopbackTransport(), Timeout: 30 * time.Second},
	})
}
