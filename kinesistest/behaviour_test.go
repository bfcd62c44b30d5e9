package kinesistest_test

import (
	"testing"

	"github.com/kinesin-go/kinesin/internal/kinesisconform"
)

// TestBehaviour runs the behaviour suite (internal/kinesisconform: one table
// of cases, each asserting what the real Kinesis Data Streams service
// documents) against the fake and against the emulators scripts/test starts.
// What a target cannot do is a named divergence in behaviourTargets, skipped
// with its reason; the emulators' subtests skip when they are not running
// (and fail when KINESIN_REQUIRE_EMULATORS is set).
//
//	./scripts/test -run TestBehaviour -v ./kinesistest/
func TestBehaviour(t *testing.T) {
	for _, bt := range behaviourTargets {
		t.Run(bt.name, func(t *testing.T) {
			t.Parallel()
			kinesisconform.Run(t, bt.build(t))
		})
	}
}
