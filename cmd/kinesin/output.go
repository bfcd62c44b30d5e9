package main

// Output shared by the operator commands: checkpoints in words and in JSON,
// tables, durations.

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// jsonCheckpoint is a checkpoint in the commands' JSON output.
type jsonCheckpoint struct {
	// Kind is "none", "position" (a sequence number), "start" (records at
	// or after Timestamp) or "shard_end".
	Kind              string     `json:"kind"`
	SequenceNumber    string     `json:"sequence_number,omitempty"`
	SubSequenceNumber *int64     `json:"sub_sequence_number,omitempty"`
	Timestamp         *time.Time `json:"timestamp,omitempty"`
	// Text is the checkpoint as the text output writes it.
	Text string `json:"text"`
}

func toJSONCheckpoint(cp checkpoint.Checkpoint) jsonCheckpoint {
	j := jsonCheckpoint{Text: cpText(cp)}
	switch {
	case cp.IsZero():
		j.Kind = "none"
	case cp.ShardEnded:
		j.Kind = "shard_end"
	case cp.IsStart():
		j.Kind = "start"
	default:
		j.Kind = "position"
		j.SequenceNumber = cp.SequenceNumber
		if cp.Partial {
			j.SubSequenceNumber = &cp.SubSequenceNumber
		}
	}
	if !cp.Timestamp.IsZero() {
		t := cp.Timestamp.UTC()
		j.Timestamp = &t
	}
	return j
}

// cpText writes a checkpoint for people: the sequence number (and /sub
// inside a KPL aggregate), "from TIME" for a start, "SHARD_END", "none".
func cpText(cp checkpoint.Checkpoint) string {
	switch {
	case cp.IsZero():
		return "none"
	case cp.ShardEnded && !cp.Timestamp.IsZero():
		return "SHARD_END (read from " + cp.Timestamp.UTC().Format(time.RFC3339Nano) + ")"
	case cp.IsStart():
		return "from " + cp.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	return cp.String()
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// table writes rows aligned in columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// ago writes a duration for people, rounded: 850ms, 12s, 3m4s, 2h0m.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

// orDash returns s, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// plural writes n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
