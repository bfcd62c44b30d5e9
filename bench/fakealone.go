package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// fakeAloneName labels the row of the fake serving GetRecords alone.
const fakeAloneName = "the fake alone"

// fakeAloneRunner returns a loop like the bare one that sends GetRecords
// straight to the fake's http.Handler and only counts the records of each
// response (no SDK, no decoding): the fake's own share of every row's CPU
// time, since the fake runs in the same process.
func fakeAloneRunner(fake *kinesistest.Fake) runner {
	return runner{Name: fakeAloneName, Settings: "GetRecords served to the fake's http.Handler, responses not decoded (the fake's share of each row)",
		run: func(ctx context.Context, client *kinesis.Client, sink sink) error {
			shards, err := listShards(ctx, client)
			if err != nil {
				return err
			}
			h := fake.Handler()
			var wg sync.WaitGroup
			errs := make([]error, len(shards))
			for i, id := range shards {
				wg.Go(func() { errs[i] = fakeAloneShard(ctx, client, h, id, sink) })
			}
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return errors.Join(errs...)
		}}
}

// fakeAloneShard reads one shard through h until a response holds no
// record.
func fakeAloneShard(ctx context.Context, client *kinesis.Client, h http.Handler, shard string, sink sink) error {
	it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(streamName),
		ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		return err
	}
	iter := aws.ToString(it.ShardIterator)
	w := &bodyWriter{header: make(http.Header)}
	for ctx.Err() == nil {
		body := fmt.Sprintf(`{"ShardIterator":%q,"Limit":10000}`, iter)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://fake/", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "Kinesis_20131202.GetRecords")
		w.reset()
		h.ServeHTTP(w, req)
		if w.status != 0 && w.status != http.StatusOK {
			return fmt.Errorf("GetRecords: HTTP %d: %s", w.status, w.body.Bytes())
		}
		out := w.body.Bytes()
		n := bytes.Count(out, []byte(`"SequenceNumber"`))
		for range n {
			if !sink(nil) {
				return nil
			}
		}
		if n == 0 {
			return nil
		}
		next, ok := jsonString(out, `"NextShardIterator":"`)
		if !ok {
			return nil
		}
		iter = next
	}
	return nil
}

// jsonString returns the string after key (which ends with its opening
// quote) in a JSON document, assuming no escapes in it.
func jsonString(doc []byte, key string) (string, bool) {
	i := bytes.Index(doc, []byte(key))
	if i < 0 {
		return "", false
	}
	rest := doc[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// bodyWriter is an http.ResponseWriter keeping the body in a buffer reused
// from one response to the next.
type bodyWriter struct {
	header http.Header
	body   bytes.Buffer
	status int
}

func (w *bodyWriter) reset() {
	clear(w.header)
	w.body.Reset()
	w.status = 0
}

func (w *bodyWriter) Header() http.Header         { return w.header }
func (w *bodyWriter) Write(p []byte) (int, error) { return w.body.Write(p) }
func (w *bodyWriter) WriteHeader(status int)      { w.status = status }
