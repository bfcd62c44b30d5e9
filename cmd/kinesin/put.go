package main

// kinesin put: one record per line of standard input.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/cenkalti/backoff/v4"
)

const putDoc = `
Writes one record to STREAM for each line read from standard input (the line
without its end of line; an empty line is an empty record), until the end of
input or SIGINT. Lines are sent together, up to 500 records and 4 MiB per
PutRecords call, as they come: a line typed at a terminal is sent at once.

Each record gets --partition-key, or, without it, a random partition key of
its own (records spread over the shards). The records of one partition key
land on one shard in the order of the lines, unless the service refuses a
record of a call (a throttle) and accepts later ones: the refused record is
sent again, after them.

Output: a line per record, its shard and sequence number, in the order of the
input ("--json": {"line":N,"shard_id":...,"sequence_number":...}). A summary
goes to standard error. Records the service keeps refusing for --retry-time
fail the command (exit code 1), naming them.

  printf '%s\n' one two three | kinesin put orders --partition-key k --endpoint http://127.0.0.1:4567
`

type putFlags struct {
	aws       awsFlags
	key       string
	json      bool
	retryTime time.Duration
}

func putCommand() *command {
	return &command{
		name:    "put",
		args:    "STREAM",
		summary: "write one record per line of standard input (for operators and tests)",
		doc:     putDoc,
		setup: func(fs *flag.FlagSet) runFunc {
			o := &putFlags{}
			o.aws.register(fs)
			fs.StringVar(&o.key, "partition-key", "", "the partition `KEY` of every record (default: a random one per record)")
			fs.BoolVar(&o.json, "json", false, "print a JSON object per record instead of text")
			fs.DurationVar(&o.retryTime, "retry-time", 30*time.Second, "how long a `DURATION` refused records are sent again, with backoff")
			return o.run
		},
	}
}

// Bounds of one PutRecords call: the service's 500 records and 5 MiB, with
// room for the partition keys.
const (
	putMaxRecords = 500
	putMaxBytes   = 4 << 20
)

// line is a line of input, numbered from 1.
type line struct {
	n    int
	data []byte
}

func (o *putFlags) run(e *env, args []string) error {
	stream, err := oneStream(args)
	if err == nil && o.retryTime <= 0 {
		err = usagef("--retry-time %v is not positive", o.retryTime)
	}
	if err = firstError(err, o.aws.check()); err != nil {
		return err
	}
	ctx, cancel, c, err := o.aws.session(e, true)
	defer cancel()
	if err != nil {
		return err
	}
	kc := c.kinesis()

	lines := make(chan line, putMaxRecords)
	readErr := make(chan error, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(e.stdin)
		sc.Buffer(make([]byte, 64<<10), 10<<20)
		for n := 1; sc.Scan(); n++ {
			select {
			case lines <- line{n: n, data: append([]byte(nil), sc.Bytes()...)}:
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()

	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	written := 0
	for {
		batch, ok := nextBatch(ctx, lines)
		if len(batch) > 0 {
			n, err := o.send(ctx, kc, stream, batch, out)
			written += n
			if err != nil {
				fmt.Fprintf(e.stderr, "kinesin put: %d records written\n", written)
				return err
			}
			out.Flush()
		}
		if !ok {
			break
		}
	}
	fmt.Fprintf(e.stderr, "kinesin put: %d records written\n", written)
	select {
	case err := <-readErr:
		if err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
	default: // stopped by a signal
	}
	return nil
}

// nextBatch waits for a line, then takes the lines already waiting, up to
// the bounds of a call. ok is false once the input ended (or ctx did).
func nextBatch(ctx context.Context, lines <-chan line) (batch []line, ok bool) {
	select {
	case l, more := <-lines:
		if !more {
			return nil, false
		}
		batch = append(batch, l)
	case <-ctx.Done():
		return nil, false
	}
	size := len(batch[0].data)
	for len(batch) < putMaxRecords {
		select {
		case l, more := <-lines:
			if !more {
				return batch, false
			}
			batch = append(batch, l)
			if size += len(l.data) + 256; size >= putMaxBytes {
				return batch, true
			}
		default:
			return batch, true
		}
	}
	return batch, true
}

// send writes batch with PutRecords, sending refused records again with
// backoff for --retry-time, and prints each record's shard and sequence
// number in input order. It returns how many were written.
func (o *putFlags) send(ctx context.Context, kc *kinesis.Client, stream string, batch []line, out io.Writer) (int, error) {
	type result struct{ shard, seq string }
	results := make([]*result, len(batch))
	pending := make([]int, len(batch)) // indexes into batch
	for i := range batch {
		pending[i] = i
	}
	keys := make([]string, len(batch))
	for i := range batch {
		keys[i] = o.key
		if keys[i] == "" {
			keys[i] = randomKey()
		}
	}
	bo := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond), backoff.WithMaxInterval(2*time.Second), backoff.WithMaxElapsedTime(o.retryTime))
	var failure error
	for len(pending) > 0 && failure == nil {
		entries := make([]types.PutRecordsRequestEntry, len(pending))
		for j, i := range pending {
			entries[j] = types.PutRecordsRequestEntry{Data: batch[i].data, PartitionKey: aws.String(keys[i])}
		}
		resp, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			if ctx.Err() == nil {
				failure = streamError(stream, err)
			}
			break
		}
		var again []int
		var lastErr string
		for j, r := range resp.Records {
			i := pending[j]
			if r.ErrorCode != nil {
				again = append(again, i)
				lastErr = aws.ToString(r.ErrorCode) + ": " + aws.ToString(r.ErrorMessage)
				continue
			}
			results[i] = &result{aws.ToString(r.ShardId), aws.ToString(r.SequenceNumber)}
		}
		if pending = again; len(pending) == 0 {
			break
		}
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			failure = fmt.Errorf("%d records refused for %v (lines %s): %s", len(pending), o.retryTime, lineNumbers(batch, pending), lastErr)
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	written := 0
	for i, r := range results {
		if r == nil {
			continue
		}
		written++
		var err error
		if o.json {
			err = writeJSON(out, map[string]any{"line": batch[i].n, "shard_id": r.shard, "sequence_number": r.seq})
		} else {
			_, err = fmt.Fprintf(out, "%s %s\n", r.shard, r.seq)
		}
		if err != nil && failure == nil {
			failure = err
		}
	}
	return written, failure
}

// lineNumbers writes the input line numbers of batch[idx...], the first few.
func lineNumbers(batch []line, idx []int) string {
	s := ""
	for k, i := range idx {
		if k == 5 {
			return s + ", ..."
		}
		if k > 0 {
			s += ", "
		}
		s += fmt.Sprint(batch[i].n)
	}
	return s
}

// randomKey returns a random partition key: 16 random bytes in hex.
func randomKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}
