package kinesistest

// Stream settings and the account: IncreaseStreamRetentionPeriod,
// DecreaseStreamRetentionPeriod, UpdateStreamMode, StartStreamEncryption,
// StopStreamEncryption, EnableEnhancedMonitoring, DisableEnhancedMonitoring,
// DescribeLimits.
//
// Behavior:
//   - Retention is 24 to 8,760 hours (InvalidArgumentException outside);
//     IncreaseStreamRetentionPeriod refuses a shorter period and
//     DecreaseStreamRetentionPeriod a longer one (InvalidArgumentException).
//     Records past a shorter period are gone (see retention.go).
//   - UpdateStreamMode (by StreamARN only) switches PROVISIONED and
//     ON_DEMAND, keeping the shards; the stream is UPDATING for
//     StreamUpdateDelay. Asking for the stream's current mode changes
//     nothing (as kinesis-local answers; the API reference is silent). With
//     WithServiceLimits a stream switches at most twice in a rolling 24
//     hours (LimitExceededException).
//     WarmThroughputMiBps is accepted and ignored.
//   - StartStreamEncryption takes EncryptionType KMS and a KeyId (any
//     non-empty id: there is no KMS to ask), StopStreamEncryption the same
//     pair; each makes the stream UPDATING for StreamUpdateDelay (stopping
//     the encryption of a stream not encrypted changes nothing). Records
//     written once the stream is encrypted carry EncryptionType KMS, in
//     PutRecord and PutRecords answers and in GetRecords and
//     SubscribeToShard; DescribeStream and DescribeStreamSummary show the
//     type and key. With WithServiceLimits a stream takes at most 25 of each
//     in a rolling 24 hours (LimitExceededException).
//   - EnableEnhancedMonitoring and DisableEnhancedMonitoring take 1 to 7
//     shard-level metric names (ALL stands for the 7), answer the metrics
//     before and after the change, and DescribeStream shows them. Nothing is
//     measured.
//   - Settings change only while the stream is ACTIVE
//     (ResourceInUseException otherwise); retention changes also while it is
//     UPDATING.
//   - DescribeLimits reports ShardLimit, the open shards of every stream,
//     the ON_DEMAND streams and their limit of 50.

import (
	"slices"
	"time"
)

type retentionReq struct {
	streamRef
	RetentionPeriodHours *int `json:"RetentionPeriodHours"`
}

func opIncreaseRetention(f *Fake, c *call, r *retentionReq) (any, *apiError) {
	return f.changeRetention(r, true)
}

func opDecreaseRetention(f *Fake, c *call, r *retentionReq) (any, *apiError) {
	return f.changeRetention(r, false)
}

func (f *Fake) changeRetention(r *retentionReq, increase bool) (any, *apiError) {
	if r.RetentionPeriodHours == nil {
		return nil, validation("1 validation error detected: Value null at 'retentionPeriodHours' failed to satisfy constraint: Member must not be null")
	}
	h := *r.RetentionPeriodHours
	if h < 24 || h > 8760 {
		return nil, invalidArg("RetentionPeriodHours %d is outside 24..8760", h)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	if err := s.changeable(f, f.clock.Now()); err != nil {
		return nil, err
	}
	d := time.Duration(h) * time.Hour
	if increase && d < s.retention {
		return nil, invalidArg("Requested retention period (%d hours) for stream %s can not be shorter than existing retention period (%d hours). Use DecreaseRetentionPeriod API.", h, s.name, int(s.retention/time.Hour))
	}
	if !increase && d > s.retention {
		return nil, invalidArg("Requested retention period (%d hours) for stream %s can not be longer than existing retention period (%d hours). Use IncreaseRetentionPeriod API.", h, s.name, int(s.retention/time.Hour))
	}
	s.retention = d
	return struct{}{}, nil
}

// active fails unless s is ACTIVE: the state its settings change from.
func (s *stream) active(f *Fake, now time.Time) *apiError {
	if st := s.status(now); st != "ACTIVE" {
		return inUse("Stream %s under account %s is not ACTIVE: it is %s.", s.name, f.cfg.account, st)
	}
	return nil
}

type updateModeReq struct {
	StreamARN           *string            `json:"StreamARN"`
	StreamModeDetails   *streamModeDetails `json:"StreamModeDetails"`
	WarmThroughputMiBps *int               `json:"WarmThroughputMiBps"`
}

func (r *updateModeReq) keys(*Fake) Match {
	if r.StreamARN == nil {
		return Match{}
	}
	return Match{Stream: streamNameOf(*r.StreamARN)}
}

func opUpdateStreamMode(f *Fake, c *call, r *updateModeReq) (any, *apiError) {
	if r.StreamARN == nil {
		return nil, validation("1 validation error detected: Value null at 'streamARN' failed to satisfy constraint: Member must not be null")
	}
	if r.StreamModeDetails == nil {
		return nil, validation("1 validation error detected: Value null at 'streamModeDetails' failed to satisfy constraint: Member must not be null")
	}
	var onDemand bool
	switch r.StreamModeDetails.StreamMode {
	case "ON_DEMAND":
		onDemand = true
	case "PROVISIONED":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]", r.StreamModeDetails.StreamMode)
	}
	if r.WarmThroughputMiBps != nil && *r.WarmThroughputMiBps < 0 {
		return nil, checkRange("warmThroughputMiBps", *r.WarmThroughputMiBps, 0, 1<<31-1)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&streamRef{StreamARN: r.StreamARN})
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	if err := s.active(f, now); err != nil {
		return nil, err
	}
	if s.onDemand == onDemand {
		return struct{}{}, nil // already so: nothing changes, nothing counts
	}
	if l := f.cfg.limits; l != nil {
		if s.modeChanges.full(now, l.ModeChangesPerDay) {
			return nil, errorf(CodeLimitExceeded, "Stream %s under account %s has switched capacity mode %d times in the last 24 hours: the limit is %d.", s.name, f.cfg.account, l.ModeChangesPerDay, l.ModeChangesPerDay)
		}
		s.modeChanges.add(now)
	}
	s.onDemand = onDemand
	s.updating = now.Add(f.cfg.updateDelay)
	return struct{}{}, nil
}

type encryptionReq struct {
	streamRef
	EncryptionType *string `json:"EncryptionType"`
	KeyId          *string `json:"KeyId"`
}

func opStartStreamEncryption(f *Fake, c *call, r *encryptionReq) (any, *apiError) {
	return f.changeEncryption(r, true)
}

func opStopStreamEncryption(f *Fake, c *call, r *encryptionReq) (any, *apiError) {
	return f.changeEncryption(r, false)
}

func (f *Fake) changeEncryption(r *encryptionReq, start bool) (any, *apiError) {
	switch {
	case r.EncryptionType == nil:
		return nil, validation("1 validation error detected: Value null at 'encryptionType' failed to satisfy constraint: Member must not be null")
	case r.KeyId == nil:
		return nil, validation("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	case *r.EncryptionType != "KMS" && *r.EncryptionType != "NONE":
		return nil, validation("1 validation error detected: Value '%s' at 'encryptionType' failed to satisfy constraint: Member must satisfy enum value set: [KMS, NONE]", *r.EncryptionType)
	case *r.EncryptionType != "KMS":
		return nil, invalidArg("EncryptionType %s is not valid: the only valid value is KMS.", *r.EncryptionType)
	}
	if n := len(*r.KeyId); n < 1 || n > 2048 {
		return nil, validation("1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length between 1 and 2048")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	if err := s.active(f, now); err != nil {
		return nil, err
	}
	if !start && s.encryption == "NONE" {
		return struct{}{}, nil // not encrypted: nothing changes, nothing counts
	}
	if l := f.cfg.limits; l != nil {
		w, what := &s.encStops, "disabled"
		if start {
			w, what = &s.encStarts, "applied a KMS key to"
		}
		if w.full(now, l.EncryptionChangesPerDay) {
			return nil, errorf(CodeLimitExceeded, "Stream %s under account %s has %s server-side encryption %d times in the last 24 hours: the limit is %d.", s.name, f.cfg.account, what, l.EncryptionChangesPerDay, l.EncryptionChangesPerDay)
		}
		w.add(now)
	}
	s.encBefore = s.encryptionAt(now)
	if start {
		s.encryption, s.keyID = "KMS", *r.KeyId
	} else {
		s.encryption, s.keyID = "NONE", ""
	}
	s.updating = now.Add(f.cfg.updateDelay)
	s.encFrom = s.updating
	return struct{}{}, nil
}

// shardMetrics are the shard-level metrics, in the order the service lists
// them.
var shardMetrics = []string{
	"IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
	"WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded",
	"IteratorAgeMilliseconds",
}

type monitoringReq struct {
	streamRef
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

func opEnableMonitoring(f *Fake, c *call, r *monitoringReq) (any, *apiError) {
	return f.changeMonitoring(r, true)
}

func opDisableMonitoring(f *Fake, c *call, r *monitoringReq) (any, *apiError) {
	return f.changeMonitoring(r, false)
}

func (f *Fake) changeMonitoring(r *monitoringReq, enable bool) (any, *apiError) {
	if n := len(r.ShardLevelMetrics); n < 1 || n > len(shardMetrics) {
		return nil, validation("1 validation error detected: Value at 'shardLevelMetrics' failed to satisfy constraint: Member must have length between 1 and %d", len(shardMetrics))
	}
	named := make(map[string]bool)
	for _, m := range r.ShardLevelMetrics {
		switch {
		case m == "ALL":
			for _, all := range shardMetrics {
				named[all] = true
			}
		case slices.Contains(shardMetrics, m):
			named[m] = true
		default:
			return nil, validation("1 validation error detected: Value '[%s]' at 'shardLevelMetrics' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [IncomingBytes, IncomingRecords, OutgoingBytes, OutgoingRecords, WriteProvisionedThroughputExceeded, ReadProvisionedThroughputExceeded, IteratorAgeMilliseconds, ALL]]", m)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	if err := s.active(f, f.clock.Now()); err != nil {
		return nil, err
	}
	before := append([]string{}, s.metrics...)
	var after []string
	for _, m := range shardMetrics {
		if on := slices.Contains(s.metrics, m); (on && !(named[m] && !enable)) || (!on && named[m] && enable) {
			after = append(after, m)
		}
	}
	s.metrics = after
	return map[string]any{
		"StreamName":               s.name,
		"StreamARN":                s.arn,
		"CurrentShardLevelMetrics": before,
		"DesiredShardLevelMetrics": append([]string{}, after...),
	}, nil
}

// onDemandStreamLimit is the service's default quota of ON_DEMAND streams.
const onDemandStreamLimit = 50

type describeLimitsReq struct{}

func (*describeLimitsReq) keys(*Fake) Match { return Match{} }

func opDescribeLimits(f *Fake, c *call, _ *describeLimitsReq) (any, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle(f.clock.Now())
	onDemand := 0
	for _, s := range f.streams {
		if s.onDemand {
			onDemand++
		}
	}
	return map[string]any{
		"ShardLimit":               f.cfg.shardLimit,
		"OpenShardCount":           f.openShardTotal(),
		"OnDemandStreamCount":      onDemand,
		"OnDemandStreamCountLimit": onDemandStreamLimit,
	}, nil
}
