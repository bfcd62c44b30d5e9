package kinesistest

// Stream-level operations: CreateStream, DeleteStream, DescribeStream,
// DescribeStreamSummary, ListStreams, ListShards, retention and tags.
//
// Behavior:
//   - CreateStream makes the stream CREATING for StreamCreationDelay, then
//     ACTIVE; its shards split the hash key space evenly. ON_DEMAND streams
//     start with 4 shards. A second stream of the same name is
//     ResourceInUseException; more shards than ShardLimit is
//     LimitExceededException.
//   - DeleteStream removes the stream at once and ends its subscriptions;
//     with registered consumers it needs EnforceConsumerDeletion. A stream
//     created again under the same name is another stream: the iterators,
//     NextTokens and sequence numbers of the old one are refused.
//   - ListShards pages with MaxResults and an opaque NextToken that expires
//     after 300 s (ExpiredNextTokenException), honours ExclusiveStartShardId and
//     every ShardFilter type, and omits closed shards whose records all passed
//     retention (see Fake.Trim).
//
// Not implemented: stream encryption, enhanced monitoring changes, resource
// policies, warm throughput, account settings.

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
	f.mu.Lock()
	defer f.mu.Unlock()
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
		name:      name,
		arn:       f.streamARN(name),
		created:   now,
		activeAt:  now.Add(delay),
		onDemand:  onDemand,
		retention: defaultRetention,
		byID:      make(map[string]*shard),
		consumers: make(map[string]*consumer),
		tags:      make(map[string]string),
		gen:       f.gen,
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
	f.purgeConsumers(f.clock.Now())
	if len(s.consumers) > 0 && (r.EnforceConsumerDeletion == nil || !*r.EnforceConsumerDeletion) {
		return nil, inUse("Stream %s has %d registered consumers; deregister them or set EnforceConsumerDeletion", s.name, len(s.consumers))
	}
	f.deleteStream(s)
	return struct{}{}, nil
}

// deleteStream removes s and everything hanging off it. Callers hold f.mu.
func (f *Fake) deleteStream(s *stream) {
	for _, cons := range s.consumers {
		delete(f.consumers, cons.arn)
	}
	delete(f.streams, s.name)
	for _, sh := range s.shards {
		sh.gone = true
		sh.wake() // subscriptions notice the stream is gone
	}
}

// ready fails for a stream that is not yet ACTIVE or UPDATING.
func (s *stream) ready(now time.Time) *apiError {
	if now.Before(s.activeAt) {
		return inUse("Stream %s under account is currently CREATING.", s.name)
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
		if *r.Limit < 1 || *r.Limit > 10000 {
			return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000", *r.Limit)
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
	return map[string]any{"StreamDescription": map[string]any{
		"StreamName":              s.name,
		"StreamARN":               s.arn,
		"StreamStatus":            s.status(now),
		"StreamModeDetails":       s.mode(),
		"Shards":                  out,
		"HasMoreShards":           more,
		"RetentionPeriodHours":    int(s.retention / time.Hour),
		"StreamCreationTimestamp": ep(s.created),
		"EnhancedMonitoring":      []enhancedMetrics{{ShardLevelMetrics: []string{}}},
		"EncryptionType":          "NONE",
	}}, nil
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
	f.purgeConsumers(f.clock.Now()) // consumers done DELETING no longer count
	return map[string]any{"StreamDescriptionSummary": map[string]any{
		"StreamName":              s.name,
		"StreamARN":               s.arn,
		"StreamStatus":            s.status(f.clock.Now()),
		"StreamModeDetails":       s.mode(),
		"RetentionPeriodHours":    int(s.retention / time.Hour),
		"StreamCreationTimestamp": ep(s.created),
		"EnhancedMonitoring":      []enhancedMetrics{{ShardLevelMetrics: []string{}}},
		"EncryptionType":          "NONE",
		"OpenShardCount":          len(s.openShards()),
		"ConsumerCount":           len(s.consumers),
	}}, nil
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
		if *r.Limit < 1 || *r.Limit > 10000 {
			return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000", *r.Limit)
		}
		limit = min(*r.Limit, maxDescribePage)
	}
	after := ""
	if r.ExclusiveStartStreamName != nil {
		after = *r.ExclusiveStartStreamName
	}
	f.mu.Lock()
	defer f.mu.Unlock()
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
	limit := 1000
	if r.MaxResults != nil {
		if *r.MaxResults < 1 || *r.MaxResults > 10000 {
			return nil, validation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 10000", *r.MaxResults)
		}
		limit = *r.MaxResults
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
		return nil, validation("RetentionPeriodHours is required")
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

type addTagsReq struct {
	streamRef
	Tags map[string]string `json:"Tags"`
}

func opAddTags(f *Fake, c *call, r *addTagsReq) (any, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	for k, v := range r.Tags {
		s.tags[k] = v
	}
	return struct{}{}, nil
}

func opListTags(f *Fake, c *call, r *streamRef) (any, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(r)
	if err != nil {
		return nil, err
	}
	type tag struct {
		Key   string `json:"Key"`
		Value string `json:"Value"`
	}
	tags := make([]tag, 0, len(s.tags))
	for k, v := range s.tags {
		tags = append(tags, tag{k, v})
	}
	slices.SortFunc(tags, func(a, b tag) int { return strings.Compare(a.Key, b.Key) })
	return map[string]any{"Tags": tags, "HasMoreTags": false}, nil
}
