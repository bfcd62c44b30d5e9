package kinesisconform

// cases is the suite: what the real service does, case by case, as its API
// reference documents it (or, where the reference is silent, as the service
// answered kinesalite's own suite, which was run against it). The names are
// the keys of Target.Divergences.
var cases = []conformCase{
	// Streams.
	{"DescribeStream", testDescribeStream},
	{"DescribeStreamSummary", testDescribeStreamSummary},
	{"ProvisionedStreamMode", testProvisionedStreamMode},
	{"OnDemandStream", testOnDemandStream},
	{"ListStreams", testListStreams},
	{"ListStreamsSummaries", testListStreamsSummaries},
	{"CreateStreamNameInUse", testCreateStreamNameInUse},
	{"DeleteStream", testDeleteStream},
	{"UnknownStream", testUnknownStream},
	{"StreamARNAddressing", testStreamARNAddressing},

	// Shards.
	{"DescribeStreamShardPaging", testDescribeStreamShardPaging},
	{"ListShardsPaging", testListShardsPaging},
	{"ListShardsExclusiveStartShardId", testListShardsExclusiveStartShardId},
	{"ListShardsNextTokenExcludesStreamName", testListShardsNextTokenExcludesStreamName},
	{"ListShardsMaxResultsBounds", testListShardsMaxResultsBounds},
	{"ListShardsFilterAtLatest", testListShardsFilterAtLatest},
	{"UnknownShard", testUnknownShard},
	{"UniformHashKeyRanges", testUniformHashKeyRanges},

	// Writing.
	{"PutGetRoundTrip", testPutGetRoundTrip},
	{"PartitionKeyRouting", testPartitionKeyRouting},
	{"ExplicitHashKeyRouting", testExplicitHashKeyRouting},
	{"ExplicitHashKeyOutOfRange", testExplicitHashKeyOutOfRange},
	{"PutRecordsResults", testPutRecordsResults},
	{"PutValidation", testPutValidation},

	// Reading.
	{"IteratorTrimHorizon", testIteratorTrimHorizon},
	{"IteratorLatest", testIteratorLatest},
	{"IteratorAtSequenceNumber", testIteratorAtSequenceNumber},
	{"IteratorAfterSequenceNumber", testIteratorAfterSequenceNumber},
	{"IteratorAtTimestamp", testIteratorAtTimestamp},
	{"IteratorAtTimestampFuture", testIteratorAtTimestampFuture},
	{"GetRecordsLimit", testGetRecordsLimit},
	{"GetRecordsLimitZero", testGetRecordsLimitZero},
	{"GetRecordsLimitAboveMax", testGetRecordsLimitAboveMax},
	{"IteratorParameterMismatch", testIteratorParameterMismatch},
	{"NextShardIteratorChaining", testNextShardIteratorChaining},
	{"MillisBehindLatest", testMillisBehindLatest},
	{"AtSequenceNumberOtherShard", testAtSequenceNumberOtherShard},
	{"SequenceNumberOtherStream", testSequenceNumberOtherStream},
	{"SequenceNumberOfDeletedStream", testSequenceNumberOfDeletedStream},
	{"MalformedIterator", testMalformedIterator},
	{"IteratorOfDeletedStream", testIteratorOfDeletedStream},

	// Resharding.
	{"SplitShard", testSplitShard},
	{"SplitParentEndingSequenceNumber", testSplitParentEndingSequenceNumber},
	{"SplitShardKeyOutsideRange", testSplitShardKeyOutsideRange},
	{"SplitShardKeyBounds", testSplitShardKeyBounds},
	{"ReadClosedShardToEnd", testReadClosedShardToEnd},
	{"ClosedShardChildShards", testClosedShardChildShards},
	{"LatestOnClosedShard", testLatestOnClosedShard},
	{"MergeShards", testMergeShards},
	{"MergeNonAdjacent", testMergeNonAdjacent},
	{"MergeInvertedAdjacency", testMergeInvertedAdjacency},
	{"ReshardClosedShard", testReshardClosedShard},
	{"UpdateShardCount", testUpdateShardCount},
	{"UpdateShardCountBeyondDouble", testUpdateShardCountBeyondDouble},

	// Enhanced fan-out consumers (not SubscribeToShard).
	{"EnhancedFanOutConsumers", testEnhancedFanOutConsumers},
	{"DeleteStreamWithConsumers", testDeleteStreamWithConsumers},

	// Stream settings and the account.
	{"RetentionPeriod", testRetentionPeriod},
	{"RemoveTagsFromStream", testRemoveTagsFromStream},
	{"ListTagsForStreamPaging", testListTagsForStreamPaging},
	{"TagLimit", testTagLimit},
	{"TagResource", testTagResource},
	{"StreamEncryption", testStreamEncryption},
	{"StartStreamEncryptionNone", testStartStreamEncryptionNone},
	{"EnhancedMonitoring", testEnhancedMonitoring},
	{"DescribeLimits", testDescribeLimits},
	{"UpdateStreamMode", testUpdateStreamMode},
}
