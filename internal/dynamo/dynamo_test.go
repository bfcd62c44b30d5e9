package dynamo

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/storekey"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNamespaceKey(t *testing.T) {
	seen := map[string][2]string{}
	names := []string{"", "a", "a/b", "b", "1:a", "a/", "/b", "7:", "é", "{x}"}
	for _, app := range names {
		for _, stream := range names {
			ns, err := NamespaceKey(app, stream)
			if err != nil {
				t.Fatalf("NamespaceKey(%q, %q): %v", app, stream, err)
			}
			if prev, ok := seen[ns]; ok {
				t.Errorf("NamespaceKey(%q, %q) = %q, as for %q", app, stream, ns, prev)
			}
			seen[ns] = [2]string{app, stream}
		}
	}
	if ns, _ := NamespaceKey("billing", "orders"); ns != "7:billing/orders" {
		t.Errorf(`NamespaceKey("billing", "orders") = %q, want "7:billing/orders"`, ns)
	}
	if _, err := NamespaceKey("bad\xff", "s"); err == nil {
		t.Error("NamespaceKey accepted an app name that is not UTF-8")
	}
	if _, err := NamespaceKey(strings.Repeat("a", 2042), "s"); err == nil {
		t.Error("NamespaceKey accepted a key over 2,048 bytes")
	}
}

func TestReady(t *testing.T) {
	if err := Ready(t.Context(), false, "t"); err != nil {
		t.Errorf("Ready = %v, want nil", err)
	}
	for name, err := range map[string]error{
		"no client": Ready(t.Context(), true, "t"),
		"no table":  Ready(t.Context(), false, ""),
	} {
		if err == nil {
			t.Errorf("%s: Ready = nil, want an error", name)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Ready(ctx, false, "t"); !errors.Is(err, context.Canceled) {
		t.Errorf("Ready with a done context = %v, want context.Canceled", err)
	}
}

func TestConfigure(t *testing.T) {
	type options struct{ a, b int }
	type option func(*options)
	got := Configure(options{a: 1, b: 2}, []option{func(o *options) { o.a = 10 }, nil, func(o *options) { o.a++ }})
	if got != (options{a: 11, b: 2}) {
		t.Errorf("Configure = %+v, want {a:11 b:2}: options in order, nil skipped", got)
	}
}

// TestCheckpointAttributes checks that what CheckpointValues and
// SetCheckpoint write, DecodeCheckpoint reads back.
func TestCheckpointAttributes(t *testing.T) {
	seq := "49590338271490256608559692538361571095921575989136588898"
	at := time.Date(2026, 12, 7, 1, 2, 3, 456789012, time.UTC)
	for _, cp := range []checkpoint.Checkpoint{checkpoint.At(seq), checkpoint.AtSub(seq, 3), checkpoint.Ended(), checkpoint.StartAt(at), checkpoint.EndedFrom(at)} {
		item := CheckpointValues(cp)
		if got, ok, err := DecodeCheckpoint(item); err != nil || !ok || got != cp {
			t.Errorf("DecodeCheckpoint(CheckpointValues(%v)) = %v, %v, %v", cp, got, ok, err)
		}
		if k := item[AttrSeqKey].(*types.AttributeValueMemberS).Value; k != storekey.OrderKey(cp) {
			t.Errorf("%v: seq_key %q, want storekey.OrderKey", cp, k)
		}
		names, values := map[string]string{"#at": AttrUpdatedAt}, map[string]types.AttributeValue{}
		update := SetCheckpoint(cp, "#at = :at", names, values)
		var want string
		switch {
		case cp.SequenceNumber != "":
			want = "SET #k = :k, #sub = :sub, #partial = :partial, #end = :end, #seq = :seq, #at = :at REMOVE #ts"
		case cp.Timestamp.IsZero():
			want = "SET #k = :k, #sub = :sub, #partial = :partial, #end = :end, #at = :at REMOVE #seq, #ts"
		default:
			want = "SET #k = :k, #sub = :sub, #partial = :partial, #end = :end, #ts = :ts, #at = :at REMOVE #seq"
		}
		if update != want {
			t.Errorf("%v: SetCheckpoint = %q, want %q", cp, update, want)
		}
		for p, attr := range names {
			if p != "#at" && !reflect.DeepEqual(item[attr], values[":"+p[1:]]) {
				t.Errorf("%v: %s is %v, want %v", cp, p, values[":"+p[1:]], item[attr])
			}
		}
		if len(names) != 7 || len(values) != len(item) {
			t.Errorf("%v: SetCheckpoint gave names %v and values %v", cp, names, values)
		}
	}
	if _, ok, err := DecodeCheckpoint(map[string]types.AttributeValue{}); ok || err != nil {
		t.Errorf("DecodeCheckpoint of an item without a checkpoint = %v, %v; want none", ok, err)
	}
	for name, item := range map[string]map[string]types.AttributeValue{
		"partial without sub_seq": {
			AttrSeq: &types.AttributeValueMemberS{Value: "1"}, AttrPartial: &types.AttributeValueMemberBOOL{Value: true},
		},
		"bad sub_seq": {
			AttrSeq: &types.AttributeValueMemberS{Value: "1"}, AttrPartial: &types.AttributeValueMemberBOOL{Value: true},
			AttrSubSeq: &types.AttributeValueMemberN{Value: "x"},
		},
		"bad sequence number": {AttrSeq: &types.AttributeValueMemberS{Value: "12x"}},
		"bad start_time":      {AttrStartTime: &types.AttributeValueMemberS{Value: "yesterday"}},
	} {
		if _, ok, err := DecodeCheckpoint(item); !ok || err == nil {
			t.Errorf("DecodeCheckpoint(%s) = %v, %v; want an error", name, ok, err)
		}
	}
}
