package kinesistest

// Stream-level operations: CreateStream, DeleteStream, DescribeStream,
// DescribeStreamSummary, ListStreams, ListShards.
//
// Behavior:
//   - CreateStream makes the stream CREATING for StreamCreationDelay, then
//     ACTIVE; its shards split the hash key space evenly. ON_DEMAND streams
//     start with 4 shards. A second stream of the same name (even one
//     DELETING) is ResourceInUseException; more shards than ShardLimit is
//     LimitExceededException, and so is a sixth stream CREATING at once
//     with WithServiceLimits.
//   - DeleteStream takes an ACTIVE stream (else ResourceInUseException) and
//     makes it DELETING for StreamDeletionDelay, then it is gone: while
//     DELETING it is still described and listed, its records can still be
//     read and written ("Kinesis Data Streams might continue to accept data
//     read and write operations ... on a stream in the DELETING state"), and
//     changes to it are ResourceInUseException. When it is gone, its
//     subscriptions end with ResourceNotFoundException. With registered
//     consumers it needs EnforceConsumerDeletion. A stream created again
//     under the same name is another stream: the iterators, NextTokens and
//     sequence numbers of the old one are refused.
//   - ListShards returns at most 1,000 shards a call, whatever MaxResults
//     says above that ("If you specify a value greater than 1000, at most
//     1000 results are returned"); MaxResults below 1 or above 10,000 is
//     ValidationException. It pages with an opaque NextToken that expires
//     after 300 s (ExpiredNextTokenException), honours
//     ExclusiveStartShardId and every ShardFilter type, and omits closed
//     shards whose records all passed retention.
//   - DescribeStream returns at most 100 shards a call (Limit 1 to 10,000).

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"
)

type streamModeDetails struct {
	StreamMode string `json:"StreamMode"`
}

type createStreamReq struct {
	StreamName        *string            `json:"StreamName"`
	ShardCount        *int               `json:"ShardCount"`
	StreamModeDetails *streamModeDetails `json:"StreamModeDetails"`
	Tags              map[string]string  `json:"Tags"`
}

func (r *createStreamReq) keys(*Fake) Match {
	if r.StreamName == nil {
		return Match{}
	}
	return Match{Stream: *r.StreamName}
}

func opCreateStream(f *Fake, c *call, r *createStreamReq) (any, *apiError) {
	if r.StreamName == nil {
		return nil, validation("1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null")
	}
	onDemand := false
	if r.StreamModeDetails != nil {
		switch r.StreamModeDetails.StreamMode {
		case "ON_DEMAND":
			onDemand = true
		case "PROVISIONED":
		default:
			return nil, validation("StreamMode %q is not PROVISIONED or ON_DEMAND", r.StreamModeDetails.StreamMode)
		}
	}
	n := onDemandShards
	switch {
	case r.ShardCount != nil:
		n = *r.ShardCount
	case !onDemand:
		return nil, invalidArg("ShardCount is required for a PROVISIONED stream")
	}
	if err := checkTags(r.Tags); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	f.settle(now)
	if l := f.cfg.limits; l != nil {
		creating := 0
		for _, s := range f.streams {
			if s.status(now) == "CREATING" {
				creating++
			}
		}
		if creating >= l.CreatingStreams {
			return nil, errorf(CodeLimitExceeded, "Account %s already has %d streams in CREATING state: the limit is %d.", f.cfg.account, creating, l.CreatingStreams)
		}
	}
	_, err := f.createStream(*r.StreamName, n, onDemand, f.cfg.streamDelay, r.Tags)
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// createStream adds a stream. Callers hold f.mu.
func (f *Fake) createStream(name string, shards int, onDemand bool, delay time.Duration, tags map[string]string) (*stream, *apiError) {
	if !validStreamName(name) {
		return nil, validation("1 validation error detected: Value '%s' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128", name)
	}
	if shards < 1 {
		return nil, validation("1 validation error detected: Value '%d' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1", shards)
	}
	if _, ok := f.streams[name]; ok {
		return nil, inUse("Stream %s under account %s already exists.", name, f.cfg.account)
	}
	if shards > f.cfg.shardLimit-f.openShardTotal() { // not a sum: ShardCount may be near MaxInt
		return nil, errorf(CodeLimitExceeded, "This request would exceed the shard limit for the account %s in %s. Current shard count for the account: %d. Limit: %d.", f.cfg.account, f.cfg.region, f.openShardTotal(), f.cfg.shardLimit)
	}
	now := f.clock.Now()
	f.gen++
	s := &stream{
		name:       name,
		arn:        f.streamARN(name),
		created:    now,
		activeAt:   now.Add(delay),
		onDemand:   onDemand,
		retention:  defaultRetention,
		byID:       make(map[string]*shard),
		consumers:  make(map[string]*consumer),
		tags:       make(map[string]string),
		gen:        f.gen,
		encryption: "NONE",
	}
	for k, v := range tags {
		s.tags[k] = v
	}
	for _, r := range uniformRanges(shards) {
		s.newShard(r[0], r[1], "", "", now)
	}
	f.streams[name] = s
	return s, nil
}

func (f *Fake) openShardTotal() int {
	n := 0
	for _, s := range f.streams {
		n += len(s.openShards())
	}
	return n
}

type deleteStreamReq struct {
	streamRef
	EnforceConsumerDeletion *bool `json:"EnforceConsumerDeletion"`
}

func opDeleteStream(f *Fake, c *call, r *deleteStreamReq) (any, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	if st := s.status(now); st != "ACTIVE" {
		return nil, inUse("Stream %s under account %s is not currently ACTIVE: it is %s.", s.name, f.cfg.account, st)
	}
	f.purgeConsumers(now)
	if len(s.consumers) > 0 && (r.EnforceConsumerDeletion == nil || !*r.EnforceConsumerDeletion) {
		return nil, inUse("Stream %s has %d registered consumers; deregister them or set EnforceConsumerDeletion", s.name, len(s.consumers))
	}
	if f.cfg.deleteDelay <= 0 {
		f.deleteStream(s)
		return struct{}{}, nil
	}
	s.goneAt = now.Add(f.cfg.deleteDelay)
	f.deleting = append(f.deleting, s)
	return struct{}{}, nil
}

// settle removes the streams whose DELETING time is over. Callers hold f.mu.
func (f *Fake) settle(now time.Time) {
	if len(f.deleting) == 0 {
		return
	}
	kept := f.deleting[:0]
	for _, s := range f.deleting {
		if now.Before(s.goneAt) {
			kept = append(kept, s)
			continue
		}
		if f.streams[s.name] == s {
			f.deleteStream(s)
		}
	}
	clear(f.deleting[len(kept):])
	f.deleting = kept
}

// deleteStream removes s and everything hanging off it at once, freeing its
// records. Callers hold f.mu.
func (f *Fake) deleteStream(s *stream) {
	for _, cons := range s.consumers {
		delete(f.consumers, cons.arn)
	}
	delete(f.streams, s.name)
	f.forget(s)
	for _, sh := range s.shards {
		sh.gone = true
		sh.wake() // subscriptions notice the stream is gone
	}
}

// ready fails for a stream that is not yet ACTIVE: data-plane calls work on
// a stream ACTIVE, UPDATING or DELETING.
func (s *stream) ready(now time.Time) *apiError {
	if now.Before(s.activeAt) {
		return inUse("Stream %s under account is currently CREATING.", s.name)
	}
	return nil
}

// changeable fails for a stream whose settings cannot change now: one
// CREATING or DELETING.
func (s *stream) changeable(f *Fake, now time.Time) *apiError {
	switch st := s.status(now); st {
	case "CREATING", "DELETING":
		return inUse("Stream %s under account %s is in %s state, not ACTIVE.", s.name, f.cfg.account, st)
	}
	return nil
}

// checkRange checks an integer member against its bounds, with the
// service's validation message.
func checkRange(member string, v, lo, hi int) *apiError {
	switch {
	case v < lo:
		return validation("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", v, member, lo)
	case v > hi:
		return validation("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", v, member, hi)
	}
	return nil
}

type shardJSON struct {
	ShardId               string  `json:"ShardId"`
	ParentShardId         *string `json:"ParentShardId,omitempty"`
	AdjacentParentShardId *string `json:"AdjacentParentShardId,omitempty"`
	HashKeyRange          struct {
		StartingHashKey string `json:"StartingHashKey"`
		EndingHashKey   string `json:"EndingHashKey"`
	} `json:"HashKeyRange"`
	SequenceNumberRange struct {
		StartingSequenceNumber string `json:"StartingSequenceNumber"`
		EndingSequenceNumber   string `json:"EndingSequenceNumber,omitempty"`
	} `json:"SequenceNumberRange"`
}

func (sh *shard) toJSON() shardJSON {
	var j shardJSON
	j.ShardId = sh.id
	if sh.parent != "" {
		j.ParentShardId = &sh.parent
	}
	if sh.adjacent != "" {
		j.AdjacentParentShardId = &sh.adjacent
	}
	j.HashKeyRange.StartingHashKey = sh.loStr
	j.HashKeyRange.EndingHashKey = sh.hiStr
	j.SequenceNumberRange.StartingSequenceNumber = sh.startSeq()
	j.SequenceNumberRange.EndingSequenceNumber = sh.endSeq()
	return j
}

type enhancedMetrics struct {
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

func (s *stream) mode() streamModeDetails {
	if s.onDemand {
		return streamModeDetails{"ON_DEMAND"}
	}
	return streamModeDetails{"PROVISIONED"}
}

// maxListShardsPage is the most shards ListShards returns per call, whatever
// MaxResults: "If you specify a value greater than 1000, at most 1000
// results are returned."
const maxListShardsPage = 1000

// maxDescribePage is the most shards DescribeStream, and streams ListStreams,
// return per call, whatever the Limit: "If you specify a value greater than
// 100, at most 100 results are returned."
const maxDescribePage = 100

type describeStreamReq struct {
	streamRef
	Limit                 *int    `json:"Limit"`
	ExclusiveStartShardId *string `json:"ExclusiveStartShardId"`
}

func opDescribeStream(f *Fake, c *call, r *describeStreamReq) (any, *apiError) {
	limit := 100
	if r.Limit != nil {
		if err := checkRange("limit", *r.Limit, 1, 10000); err != nil {
			return nil, err
		}
		limit = min(*r.Limit, maxDescribePage)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	f.autoTrimStream(s, now)
	shards := s.visibleShards()
	if r.ExclusiveStartShardId != nil {
		shards = shardsAfter(shards, *r.ExclusiveStartShardId)
	}
	more := len(shards) > limit
	if more {
		shards = shards[:limit]
	}
	out := make([]shardJSON, 0, len(shards))
	for _, sh := range shards {
		out = append(out, sh.toJSON())
	}
	d := s.describe(now)
	d["Shards"] = out
	d["HasMoreShards"] = more
	return map[string]any{"StreamDescription": d}, nil
}

// describe returns the members DescribeStream and DescribeStreamSummary
// share.
func (s *stream) describe(now time.Time) map[string]any {
	d := map[string]any{
		"StreamName":              s.name,
		"StreamARN":               s.arn,
		"StreamStatus":            s.status(now),
		"StreamModeDetails":       s.mode(),
		"RetentionPeriodHours":    int(s.retention / time.Hour),
		"StreamCreationTimestamp": ep(s.created),
		"EnhancedMonitoring":      []enhancedMetrics{{ShardLevelMetrics: append([]string{}, s.metrics...)}},
		"EncryptionType":          s.encryption,
	}
	if s.encryption == "KMS" {
		d["KeyId"] = s.keyID
	}
	return d
}

func shardsAfter(shards []*shard, id string) []*shard {
	i := sort.Search(len(shards), func(i int) bool { return shards[i].id > id })
	return shards[i:]
}

func opDescribeStreamSummary(f *Fake, c *call, r *streamRef) (any, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(r)
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	f.purgeConsumers(now) // consumers done DELETING no longer count
	d := s.describe(now)
	d["OpenShardCount"] = len(s.openShards())
	d["ConsumerCount"] = len(s.consumers)
	return map[string]any{"StreamDescriptionSummary": d}, nil
}

type listStreamsReq struct {
	Limit                    *int    `json:"Limit"`
	ExclusiveStartStreamName *string `json:"ExclusiveStartStreamName"`
	NextToken                *string `json:"NextToken"`
}

func (r *listStreamsReq) keys(*Fake) Match { return Match{} }

func opListStreams(f *Fake, c *call, r *listStreamsReq) (any, *apiError) {
	limit := 100
	if r.Limit != nil {
		if err := checkRange("limit", *r.Limit, 1, 10000); err != nil {
			return nil, err
		}
		limit = min(*r.Limit, maxDescribePage)
	}
	after := ""
	if r.ExclusiveStartStreamName != nil {
		after = *r.ExclusiveStartStreamName
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle(f.clock.Now())
	if r.NextToken != nil {
		var t pageToken
		if err := f.decodeToken(*r.NextToken, &t); err != nil {
			return nil, err
		}
		after = t.After
	}
	names := make([]string, 0, len(f.streams))
	for name := range f.streams {
		if name > after {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	more := len(names) > limit
	if more {
		names = names[:limit]
	}
	now := f.clock.Now()
	summaries := make([]map[string]any, 0, len(names))
	for _, name := range names {
		s := f.streams[name]
		summaries = append(summaries, map[string]any{
			"StreamName":              s.name,
			"StreamARN":               s.arn,
			"StreamStatus":            s.status(now),
			"StreamModeDetails":       s.mode(),
			"StreamCreationTimestamp": ep(s.created),
		})
	}
	out := map[string]any{"StreamNames": names, "HasMoreStreams": more, "StreamSummaries": summaries}
	if more {
		out["NextToken"] = f.encodeToken(pageToken{After: names[len(names)-1]})
	}
	return out, nil
}

// pageToken is the content of an opaque NextToken.
type pageToken struct {
	Stream string       `json:"s,omitempty"`
	Gen    uint64       `json:"g,omitempty"`
	After  string       `json:"a,omitempty"`
	Filter *shardFilter `json:"f,omitempty"`
	Issued int64        `json:"t"`
}

func (f *Fake) encodeToken(t pageToken) string {
	t.Issued = f.clock.Now().UnixNano()
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (f *Fake) decodeToken(s string, t *pageToken) *apiError {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, t) != nil {
		return invalidArg("NextToken %q is not valid", s)
	}
	if f.clock.Now().Sub(time.Unix(0, t.Issued)) > nextTokenLifetime {
		return errorf(CodeExpiredNextToken, "NextToken has expired")
	}
	return nil
}

type shardFilter struct {
	Type      string `json:"Type"`
	ShardId   string `json:"ShardId,omitempty"`
	Timestamp *epoch `json:"Timestamp,omitempty"`
}

type listShardsReq struct {
	streamRef
	NextToken               *string      `json:"NextToken"`
	MaxResults              *int         `json:"MaxResults"`
	ExclusiveStartShardId   *string      `json:"ExclusiveStartShardId"`
	StreamCreationTimestamp *epoch       `json:"StreamCreationTimestamp"`
	ShardFilter             *shardFilter `json:"ShardFilter"`
}

func (r *listShardsReq) keys(f *Fake) Match {
	if r.NextToken != nil {
		var t pageToken
		if b, err := base64.RawURLEncoding.DecodeString(*r.NextToken); err == nil && json.Unmarshal(b, &t) == nil {
			return Match{Stream: t.Stream}
		}
	}
	return r.streamRef.keys(f)
}

func opListShards(f *Fake, c *call, r *listShardsReq) (any, *apiError) {
	limit := maxListShardsPage
	if r.MaxResults != nil {
		if err := checkRange("maxResults", *r.MaxResults, 1, 10000); err != nil {
			return nil, err
		}
		limit = min(*r.MaxResults, maxListShardsPage)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var (
		s      *stream
		after  string
		filter *shardFilter
	)
	if r.NextToken != nil {
		if r.StreamName != nil || r.StreamARN != nil || r.ExclusiveStartShardId != nil || r.StreamCreationTimestamp != nil || r.ShardFilter != nil {
			return nil, invalidArg("NextToken cannot be given with StreamName, StreamARN, ExclusiveStartShardId, StreamCreationTimestamp or ShardFilter")
		}
		var t pageToken
		if err := f.decodeToken(*r.NextToken, &t); err != nil {
			return nil, err
		}
		f.settle(f.clock.Now())
		s = f.streams[t.Stream]
		if s == nil || s.gen != t.Gen {
			return nil, notFound("Stream %s under account %s not found.", t.Stream, f.cfg.account)
		}
		after, filter = t.After, t.Filter
	} else {
		var err *apiError
		if s, err = f.resolve(&r.streamRef); err != nil {
			return nil, err
		}
		if r.ExclusiveStartShardId != nil {
			after = *r.ExclusiveStartShardId
		}
		filter = r.ShardFilter
	}
	now := f.clock.Now()
	if err := s.ready(now); err != nil {
		return nil, err
	}
	f.autoTrimStream(s, now)
	shards := s.visibleShards()
	if filter != nil {
		var err *apiError
		if shards, after, err = s.filterShards(shards, filter, after, now); err != nil {
			return nil, err
		}
	}
	if after != "" {
		shards = shardsAfter(shards, after)
	}
	more := len(shards) > limit
	if more {
		shards = shards[:limit]
	}
	out := make([]shardJSON, 0, len(shards))
	for _, sh := range shards {
		out = append(out, sh.toJSON())
	}
	resp := map[string]any{"Shards": out}
	if more {
		resp["NextToken"] = f.encodeToken(pageToken{Stream: s.name, Gen: s.gen, After: shards[len(shards)-1].id, Filter: filter})
	}
	return resp, nil
}

// filterShards applies a ShardFilter. AFTER_SHARD_ID turns into an exclusive
// start shard id, which it returns.
func (s *stream) filterShards(shards []*shard, fl *shardFilter, after string, now time.Time) ([]*shard, string, *apiError) {
	// A shard closed at t was open at t (the service's end timestamp is
	// "greater than or equal to" the filter's timestamp).
	openAt := func(t time.Time) []*shard { // shards open at instant t
		var out []*shard
		for _, sh := range shards {
			if !sh.created.After(t) && (sh.open() || !sh.closedAt.Before(t)) {
				out = append(out, sh)
			}
		}
		return out
	}
	openFrom := func(t time.Time) []*shard { // shards open at t or later
		var out []*shard
		for _, sh := range shards {
			if sh.open() || !sh.closedAt.Before(t) {
				out = append(out, sh)
			}
		}
		return out
	}
	horizon := s.trimHorizon(now)
	switch strings.ToUpper(fl.Type) {
	case "AFTER_SHARD_ID":
		if fl.ShardId == "" {
			return nil, "", invalidArg("ShardFilter AFTER_SHARD_ID needs a ShardId")
		}
		return shards, max(after, fl.ShardId), nil
	case "AT_TRIM_HORIZON":
		return openAt(horizon), after, nil
	case "FROM_TRIM_HORIZON":
		return openFrom(horizon), after, nil
	case "AT_LATEST":
		var open []*shard
		for _, sh := range shards {
			if sh.open() {
				open = append(open, sh)
			}
		}
		return open, after, nil
	case "AT_TIMESTAMP", "FROM_TIMESTAMP":
		if fl.Timestamp == nil {
			return nil, "", invalidArg("ShardFilter %s needs a Timestamp", fl.Type)
		}
		t := fl.Timestamp.Time
		if t.Before(s.created) {
			t = s.created
		}
		if strings.EqualFold(fl.Type, "AT_TIMESTAMP") {
			return openAt(t), after, nil
		}
		return openFrom(t), after, nil
	default:
		return nil, "", validation("ShardFilter Type %q is not one of AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP", fl.Type)
	}
}

// trimHorizon is the oldest instant whose data the stream still keeps.
func (s *stream) trimHorizon(now time.Time) time.Time {
	t := now.Add(-s.retention)
	if t.Before(s.created) {
		return s.created
	}
	return t
}
