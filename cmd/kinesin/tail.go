package main

// kinesin tail: print the records of a stream as they come.

import (
	"bufio"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
)

const tailDoc = `
Prints the records of STREAM, of every shard, as they come, until SIGINT
(Ctrl-C) or SIGTERM: the kinesin library reading with its defaults (polling,
or Enhanced Fan-Out with --efo), KPL aggregated records split into their user
records. The records of a shard come in order, a child shard's after its
parents'. tail never writes a checkpoint: its positions stay in memory.

--from: latest (the records put from now on), trim-horizon (every record the
stream holds), or ` + timeHelp + `.

--stop-when-caught-up ends tail, with exit code 0, once every shard has been
read up to its tip as of the start (the children of shards that ended
before it included): a dump of what the stream holds. --stop-at TIME does
the same for the records that arrived at or before TIME, in RFC 3339 or a
negative duration from now. --shards reads only the shards named, not
their children.

--format:
  text   shardId-000000000000 SEQUENCE[/SUB] ARRIVAL PARTITION-KEY DATA, one
         line per record: /SUB for the user records after the first of a
         KPL aggregate; PARTITION-KEY quoted when it holds a space; DATA as
         text when it is printable UTF-8, else "base64:" and its base64
  json   one JSON object per line: shard_id, sequence_number,
         sub_sequence_number, arrival (RFC 3339), partition_key,
         explicit_hash_key (KPL user records that have one), data (base64),
         text (the data, when it is valid UTF-8)
  raw    the data of each record, then a newline

  kinesin tail orders --from trim-horizon --endpoint http://127.0.0.1:4567
  kinesin tail orders --from -15m --format json | jq -r .text
`

type tailFlags struct {
	aws    awsFlags
	from   string
	efo    string
	format choiceFlag
	caught bool
	stopAt string
	shards shardList
}

func tailCommand() *command {
	return &command{
		name:    "tail",
		args:    "STREAM",
		summary: "print the records of a stream as they come, KPL aggregates split; writes no checkpoint",
		doc:     tailDoc,
		setup: func(fs *flag.FlagSet) runFunc {
			o := &tailFlags{format: choiceFlag{value: "text", choices: []string{"text", "json", "raw"}}}
			o.aws.register(fs)
			fs.StringVar(&o.from, "from", "latest", "where to start: latest, trim-horizon or a `TIME`")
			fs.StringVar(&o.efo, "efo", "", "read with Enhanced Fan-Out through the consumer `NAME` (registered if missing;\nthe stream's consumers are billed)")
			fs.Var(&o.format, "format", "output `FORMAT`: text, json or raw")
			fs.BoolVar(&o.caught, "stop-when-caught-up", false, "end once every shard is read up to its tip as of the start")
			fs.StringVar(&o.stopAt, "stop-at", "", "end once every record that arrived at or before `TIME` is printed")
			fs.Var(&o.shards, "shards", "read only the shard `IDS`, separated by commas (default: every shard)")
			return o.run
		},
	}
}

func (o *tailFlags) run(e *env, args []string) error {
	stream, err := oneStream(args)
	if err = firstError(err, o.aws.check()); err != nil {
		return err
	}
	var start kinesin.StartPosition
	switch o.from {
	case "latest":
		start = kinesin.Latest
	case "trim-horizon":
		start = kinesin.TrimHorizon
	default:
		t, ok := parseTime(o.from, time.Now())
		if !ok {
			return usagef("--from %q: want latest, trim-horizon, or %s", o.from, timeHelp)
		}
		start = kinesin.AtTimestamp(t)
	}
	var stops []kinesin.Option
	if o.caught {
		stops = append(stops, kinesin.StopWhenCaughtUp())
	}
	if o.stopAt != "" {
		if o.caught {
			return usagef("--stop-at and --stop-when-caught-up: pass one")
		}
		t, ok := parseTime(o.stopAt, time.Now())
		if !ok {
			return usagef("--stop-at %q: want %s", o.stopAt, timeHelp)
		}
		stops = append(stops, kinesin.StopAt(t))
	}
	if len(o.shards) > 0 {
		stops = append(stops, kinesin.WithShards(o.shards...))
	}
	ctx, cancel, c, err := o.aws.session(e, true)
	defer cancel()
	if err != nil {
		return err
	}
	kc := c.kinesis()
	// A quick look first: kinesin.Open retries for a minute what may pass,
	// a stream missing or an endpoint that does not answer among them.
	if _, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)}); err != nil {
		if interrupted(ctx, err) {
			return nil
		}
		return streamError(stream, err)
	}
	opts := []kinesin.Option{
		kinesin.WithClient(kc),
		kinesin.WithCheckpointer(memcheckpoint.New()),
		kinesin.WithApp("kinesin-tail"),
		kinesin.WithStart(start),
		kinesin.WithLogger(slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	}
	if o.efo != "" {
		opts = append(opts, kinesin.WithEFO(o.efo))
	}
	opts = append(opts, stops...)
	st, err := kinesin.Open(ctx, stream, kinesin.Bytes, opts...)
	switch {
	case interrupted(ctx, err):
		return nil
	case errors.Is(err, kinesin.ErrInvalidOption):
		return usagef("%v", err)
	case errors.Is(err, kinesin.ErrStreamNotFound):
		return fmt.Errorf("%w (check the name, --region and --endpoint)", err)
	case err != nil:
		return err
	}
	defer st.Close()
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	for rec, err := range st.Records() {
		if err != nil {
			return err
		}
		if err := o.print(out, rec); err != nil {
			return fmt.Errorf("writing the output: %w", err)
		}
		rec.Commit()
		if err := out.Flush(); err != nil {
			return fmt.Errorf("writing the output: %w", err)
		}
	}
	return nil
}

// tailRecord is a record in tail's JSON output.
type tailRecord struct {
	ShardID           string    `json:"shard_id"`
	SequenceNumber    string    `json:"sequence_number"`
	SubSequenceNumber int64     `json:"sub_sequence_number"`
	Arrival           time.Time `json:"arrival"`
	PartitionKey      string    `json:"partition_key"`
	ExplicitHashKey   string    `json:"explicit_hash_key,omitempty"`
	Data              []byte    `json:"data"`
	Text              *string   `json:"text,omitempty"`
}

func (o *tailFlags) print(w io.Writer, rec *kinesin.Record[[]byte]) error {
	switch o.format.value {
	case "raw":
		if _, err := w.Write(rec.Data); err != nil {
			return err
		}
		_, err := io.WriteString(w, "\n")
		return err
	case "json":
		j := tailRecord{
			ShardID: rec.ShardID, SequenceNumber: rec.SequenceNumber, SubSequenceNumber: rec.SubSequenceNumber,
			Arrival: rec.ArrivalTime.UTC(), PartitionKey: rec.PartitionKey, ExplicitHashKey: rec.ExplicitHashKey,
			Data: rec.Data,
		}
		if utf8.Valid(rec.Data) {
			text := string(rec.Data)
			j.Text = &text
		}
		return writeJSON(w, j)
	}
	seq := rec.SequenceNumber
	if rec.SubSequenceNumber > 0 {
		seq += "/" + strconv.FormatInt(rec.SubSequenceNumber, 10)
	}
	_, err := fmt.Fprintf(w, "%s %s %s %s %s\n", rec.ShardID, seq, rec.ArrivalTime.UTC().Format(time.RFC3339Nano),
		printable(rec.PartitionKey), dataText(rec.Data))
	return err
}

// dataText returns data as text when it is printable UTF-8, else "base64:"
// and its base64.
func dataText(data []byte) string {
	if utf8.Valid(data) && isPrintable(string(data)) {
		return string(data)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(data)
}

// printable returns s, quoted (as Go quotes strings) when it is empty or
// holds a space or what would break a line, so that it stays one field.
func printable(s string) string {
	if s != "" && isPrintable(s) && !strings.ContainsRune(s, ' ') && s[0] != '"' {
		return s
	}
	return strconv.Quote(s)
}

func isPrintable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
