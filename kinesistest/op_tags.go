package kinesistest

// Tags: AddTagsToStream, RemoveTagsFromStream, ListTagsForStream (streams by
// name or ARN), TagResource, UntagResource, ListTagsForResource (streams and
// consumers by ARN), and the Tags of CreateStream and RegisterStreamConsumer.
//
// Behavior:
//   - A resource holds at most 50 tags: a change that would leave more is
//     InvalidArgumentException, and changes nothing. Adding a tag that exists
//     replaces its value; removing one that does not exist is ignored.
//   - Keys have 1 to 128 characters and values 0 to 256, a call carries 1 to
//     200 tags or 1 to 50 keys (ValidationException otherwise); keys and
//     values hold Unicode letters, digits, white space and _ . : / = + - @
//     only (InvalidArgumentException otherwise).
//   - The tags of a stream cannot change while it is CREATING or DELETING
//     (ResourceInUseException).
//   - ListTagsForStream returns the tags in key order, at most Limit (1 to
//     50) after ExclusiveStartTagKey, with HasMoreTags; ListTagsForResource
//     returns them all in key order.

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTags is the most tags a stream or consumer holds.
const maxTags = 50

type tagJSON struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// sortedTags returns tags in key order, those after `after` only.
func sortedTags(tags map[string]string, after string) []tagJSON {
	out := make([]tagJSON, 0, len(tags))
	for k, v := range tags {
		if k > after {
			out = append(out, tagJSON{k, v})
		}
	}
	slices.SortFunc(out, func(a, b tagJSON) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// validTagText reports whether s holds only the characters tags may hold.
func validTagText(s string) bool {
	for _, c := range s {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && !unicode.IsSpace(c) && !strings.ContainsRune("_.:/=+-@", c) {
			return false
		}
	}
	return true
}

// checkTagKey validates one tag key.
func checkTagKey(k string) *apiError {
	if n := utf8.RuneCountInString(k); n < 1 || n > 128 {
		return validation("1 validation error detected: Value '%s' at 'tags' failed to satisfy constraint: Map keys must have length between 1 and 128", k)
	}
	if !validTagText(k) {
		return invalidArg("Tag key %q contains invalid characters. Tags may only contain Unicode letters, digits, white space, or these symbols: _ . : / = + - @", k)
	}
	return nil
}

// checkTags validates the tags a call adds; none is fine (CreateStream and
// RegisterStreamConsumer take them optionally).
func checkTags(tags map[string]string) *apiError {
	if len(tags) > 200 {
		return validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 200")
	}
	if len(tags) > maxTags {
		return invalidArg("A resource cannot have more than %d tags; this request has %d.", maxTags, len(tags))
	}
	for k, v := range tags {
		if err := checkTagKey(k); err != nil {
			return err
		}
		if utf8.RuneCountInString(v) > 256 {
			return validation("1 validation error detected: Value '%s' at 'tags' failed to satisfy constraint: Map values must have length less than or equal to 256", v)
		}
		if !validTagText(v) {
			return invalidArg("Tag value %q contains invalid characters. Tags may only contain Unicode letters, digits, white space, or these symbols: _ . : / = + - @", v)
		}
	}
	return nil
}

// checkTagsToAdd validates the tags of AddTagsToStream and TagResource,
// which need one at least.
func checkTagsToAdd(tags map[string]string) *apiError {
	if len(tags) == 0 {
		return validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	return checkTags(tags)
}

// addTags adds tags to a resource's set, within maxTags.
func addTags(set, tags map[string]string, resource string) *apiError {
	n := len(set)
	for k := range tags {
		if _, ok := set[k]; !ok {
			n++
		}
	}
	if n > maxTags {
		return invalidArg("Failed to add tags to %s: a resource cannot have more than %d tags associated with it.", resource, maxTags)
	}
	for k, v := range tags {
		set[k] = v
	}
	return nil
}

// checkTagKeys validates the keys a call removes.
func checkTagKeys(keys []string) *apiError {
	if n := len(keys); n < 1 || n > maxTags {
		return validation("1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length between 1 and %d", maxTags)
	}
	for _, k := range keys {
		if err := checkTagKey(k); err != nil {
			return err
		}
	}
	return nil
}

type addTagsReq struct {
	streamRef
	Tags map[string]string `json:"Tags"`
}

func opAddTags(f *Fake, c *call, r *addTagsReq) (any, *apiError) {
	if err := checkTagsToAdd(r.Tags); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.taggableStream(&r.streamRef)
	if err != nil {
		return nil, err
	}
	return struct{}{}, addTags(s.tags, r.Tags, "stream "+s.name)
}

// taggableStream resolves a stream whose tags may change now. Callers hold
// f.mu.
func (f *Fake) taggableStream(ref *streamRef) (*stream, *apiError) {
	s, err := f.resolve(ref)
	if err != nil {
		return nil, err
	}
	if err := s.changeable(f, f.clock.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

type removeTagsReq struct {
	streamRef
	TagKeys []string `json:"TagKeys"`
}

func opRemoveTags(f *Fake, c *call, r *removeTagsReq) (any, *apiError) {
	if err := checkTagKeys(r.TagKeys); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.taggableStream(&r.streamRef)
	if err != nil {
		return nil, err
	}
	for _, k := range r.TagKeys {
		delete(s.tags, k)
	}
	return struct{}{}, nil
}

type listTagsReq struct {
	streamRef
	Limit                *int    `json:"Limit"`
	ExclusiveStartTagKey *string `json:"ExclusiveStartTagKey"`
}

func opListTags(f *Fake, c *call, r *listTagsReq) (any, *apiError) {
	limit := maxTags
	if r.Limit != nil {
		if err := checkRange("limit", *r.Limit, 1, maxTags); err != nil {
			return nil, err
		}
		limit = *r.Limit
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	after := ""
	if r.ExclusiveStartTagKey != nil {
		after = *r.ExclusiveStartTagKey
	}
	tags := sortedTags(s.tags, after)
	more := len(tags) > limit
	if more {
		tags = tags[:limit]
	}
	return map[string]any{"Tags": tags, "HasMoreTags": more}, nil
}

type resourceRef struct {
	ResourceARN *string `json:"ResourceARN"`
}

func (r *resourceRef) keys(*Fake) Match {
	if r.ResourceARN == nil {
		return Match{}
	}
	return (&consumerRef{ConsumerARN: r.ResourceARN}).keys(nil)
}

// resource finds the tags of the stream or consumer an ARN names. Callers
// hold f.mu.
func (f *Fake) resource(r *resourceRef, changing bool) (map[string]string, *apiError) {
	if r.ResourceARN == nil {
		return nil, validation("1 validation error detected: Value null at 'resourceARN' failed to satisfy constraint: Member must not be null")
	}
	arn := *r.ResourceARN
	if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":kinesis:") || !strings.Contains(arn, "stream/") {
		return nil, validation("1 validation error detected: Value '%s' at 'resourceARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+", arn)
	}
	if strings.Contains(arn, "/consumer/") {
		cons, err := f.findConsumer(&consumerRef{ConsumerARN: &arn})
		if err != nil {
			return nil, err
		}
		if cons.tags == nil {
			cons.tags = make(map[string]string)
		}
		return cons.tags, nil
	}
	ref := &streamRef{StreamARN: &arn}
	if changing {
		s, err := f.taggableStream(ref)
		if err != nil {
			return nil, err
		}
		return s.tags, nil
	}
	s, err := f.resolve(ref)
	if err != nil {
		return nil, err
	}
	return s.tags, nil
}

type tagResourceReq struct {
	resourceRef
	Tags map[string]string `json:"Tags"`
}

func opTagResource(f *Fake, c *call, r *tagResourceReq) (any, *apiError) {
	if err := checkTagsToAdd(r.Tags); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	set, err := f.resource(&r.resourceRef, true)
	if err != nil {
		return nil, err
	}
	return struct{}{}, addTags(set, r.Tags, *r.ResourceARN)
}

type untagResourceReq struct {
	resourceRef
	TagKeys []string `json:"TagKeys"`
}

func opUntagResource(f *Fake, c *call, r *untagResourceReq) (any, *apiError) {
	if err := checkTagKeys(r.TagKeys); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	set, err := f.resource(&r.resourceRef, true)
	if err != nil {
		return nil, err
	}
	for _, k := range r.TagKeys {
		delete(set, k)
	}
	return struct{}{}, nil
}

func opListTagsForResource(f *Fake, c *call, r *resourceRef) (any, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	set, err := f.resource(r, false)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Tags": sortedTags(set, "")}, nil
}
