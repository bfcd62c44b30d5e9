package chaos

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Item is the data of every record of the soak: the n-th record of a key.
type Item struct {
	Key string `json:"key"`
	N   int    `json:"n"`
}

// keyName names key i.
func keyName(i int) string { return fmt.Sprintf("k%03d", i) }

// RunProducer is the producer subcommand: it puts {key, n} records into a
// stream with PutRecords, every key counting from 0, a key's record n+1 only
// once record n was acknowledged (a failed record is put again first), and
// logs every acknowledged put. It stops on SIGTERM or SIGINT after the batch
// in flight, or when its standard input ends.
//
// Flags: -kinesis (the fake's URL), -stream, -keys (default 32), -rate
// (records a second, default 100), -log (the log file).
func RunProducer(args []string) error {
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	endpoint := fs.String("kinesis", "", "Kinesis endpoint URL")
	stream := fs.String("stream", "orders", "stream name")
	keys := fs.Int("keys", 32, "number of partition keys")
	rate := fs.Int("rate", 100, "records a second")
	logPath := fs.String("log", "", "log file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *endpoint == "" || *logPath == "" || *keys < 1 || *rate < 1 {
		return fmt.Errorf("producer: -kinesis and -log are required, -keys and -rate positive")
	}
	log, err := CreateLog(*logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	client := kinesisClient(*endpoint)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	gone := parentGone()
	next := make([]int, *keys) // the next n of each key
	const tick = 100 * time.Millisecond
	perTick := max(1, *rate/int(time.Second/tick))
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	cursor := 0
	for {
		select {
		case <-ctx.Done():
			log.Write(Event{Ev: EvExit, Detail: "stopped"})
			return nil
		case <-gone:
			log.Write(Event{Ev: EvExit, Detail: "parent gone"})
			return nil
		case <-ticker.C:
		}
		// One record of each of perTick keys, round robin: a key is never
		// twice in a batch, so its records are acknowledged in order.
		n := min(perTick, *keys)
		batch := make([]int, n)
		entries := make([]types.PutRecordsRequestEntry, n)
		for i := range n {
			k := (cursor + i) % *keys
			batch[i] = k
			data, _ := json.Marshal(Item{Key: keyName(k), N: next[k]})
			entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(keyName(k)), Data: data}
		}
		cursor = (cursor + n) % *keys
		// Not on ctx: a SIGTERM lets the batch in flight finish.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := client.PutRecords(cctx, &kinesis.PutRecordsInput{StreamName: stream, Records: entries})
		cancel()
		if err != nil {
			// Maybe applied, maybe not: the records go again; a copy in the
			// stream is a record never acknowledged.
			log.Write(Event{Ev: EvPutError, Detail: err.Error()})
			continue
		}
		for i, r := range out.Records {
			k := batch[i]
			if r.ErrorCode != nil {
				log.Write(Event{Ev: EvPutError, Key: keyName(k), N: next[k], Detail: aws.ToString(r.ErrorCode)})
				continue
			}
			log.Write(Event{Ev: EvPut, Stream: *stream, Shard: aws.ToString(r.ShardId), Seq: aws.ToString(r.SequenceNumber), Key: keyName(k), N: next[k]})
			next[k]++
		}
	}
}

// kinesisClient returns a Kinesis client of endpoint, with test credentials.
// Its HTTP client hides WriteTo on request bodies: over HTTP/1.1 net/http
// otherwise closes the connection under a response that arrives before the
// SDK finished sending its request, which kills event streams at random (see
// kinesistest's Fake.AWSConfig).
func kinesisClient(endpoint string) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  testCredentials,
		HTTPClient:   &http.Client{Transport: hideWriteTo{loopbackTransport()}},
	})
}

// The region and credentials of the soak's clients: the emulators take any.
var (
	region          = "us-east-1"
	testCredentials = credentials.NewStaticCredentialsProvider("chaos", "chaos", "")
)

// loopbackTransport returns a transport for many calls to one local host.
func loopbackTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return tr
}

// hideWriteTo sends request bodies through their Read method only.
type hideWriteTo struct{ base http.RoundTripper }

func (t hideWriteTo) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		r := *req
		r.Body = struct{ readCloser }{req.Body}
		req = &r
	}
	return t.base.RoundTrip(req)
}

type readCloser interface {
	Read([]byte) (int, error)
	Close() error
}
