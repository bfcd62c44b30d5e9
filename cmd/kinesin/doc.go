// Command kinesin is the command-line companion of the kinesin library: it
// tails streams, puts records, shows how far behind a consumer group is and
// who reads which shard, moves checkpoints and releases leases, and serves
// an in-memory Kinesis for SDKs of any language.
//
// Usage:
//
//	kinesin <command> [flags] [arguments]
//	kinesin help [command]
//	kinesin <command> --help
//
// Commands:
//
//	tail               print the records of a stream as they come, KPL aggregates split; writes no checkpoint
//	put                write one record per line of standard input (for operators and tests)
//	status             show an app's checkpoints, owners and lag, shard by shard (--watch refreshes it)
//	checkpoints list   list an app's checkpoints (from --store or --leases), or the apps of a stream
//	checkpoints set    move an app's checkpoints, backwards too: --to trim-horizon, latest, TIME or SEQ
//	checkpoints reset  remove an app's checkpoints: its consumers start those shards again from WithStart
//	leases list        list an app's leases: owner, counter, checkpoint, liveness; and its workers
//	leases release     free an app's leases whatever worker holds them (a killed worker's, at once)
//	fake               serve an in-memory Kinesis (kinesistest) for SDKs and tools of any language
//	version            print the version of kinesin
//
// Flags are written --name VALUE or --name=VALUE (one dash works too), and may
// come before or after the arguments; "--" ends the flags. A boolean flag
// takes no value (--tls), or --tls=false.
//
// # AWS, stores and apps
//
// The commands that call AWS (all but fake and version) read the AWS
// configuration as the AWS CLI and SDKs do: the environment (AWS_REGION,
// AWS_PROFILE, credentials), the shared configuration files, then --profile
// NAME and --region REGION over them. --endpoint URL points the Kinesis calls
// at another endpoint (kinesin fake, kinesalite), --dynamodb-endpoint URL the
// DynamoDB calls (dynalite, DynamoDB Local). kinesin fake's own --profile is
// another flag: it picks the fake's timings.
//
// An app (--app, the name given to kinesin.WithApp) keeps its checkpoints in
// a store, named by URL: --store dynamodb://TABLE (checkpoint/dynamocheckpoint)
// or --store redis://HOST:PORT[/DB][?prefix=P] (checkpoint/redischeckpoint);
// an app with shard leases keeps them in its lease table, --leases
// dynamodb://TABLE (lease/dynamolease). The commands work through the
// library's admin APIs, checkpoint.Admin and lease.Operator.
//
// Changes (checkpoints set and reset, leases release) print what they will
// change and ask on the terminal; --yes applies without asking, --dry-run only
// prints, and without a terminal (a script) and without --yes they are dry
// runs. checkpoints set and reset refuse while live workers hold the leases of
// the shards, unless --force.
//
// # Exit codes
//
//	0  success; a dry run; a stop on SIGINT or SIGTERM (tail, status --watch,
//	   and fake's graceful stop); tail's end with --stop-when-caught-up or
//	   --stop-at
//	1  failure while running: an AWS or store error, an endpoint that does not
//	   answer, a missing stream or table; for fake, an address that cannot be
//	   listened on, a file that cannot be written, a graceful stop that did not
//	   finish within --shutdown-timeout or was cut short by a second signal
//	2  usage error: an unknown command, an unknown flag, a bad flag value or
//	   argument, a missing region, a --to in the future (the message names
//	   it, then points at --help)
//	3  refused, nothing changed: live workers hold the leases of the shards
//	   (checkpoints set and reset without --force), or the answer at the
//	   prompt was not yes
//
// Errors go to standard error, prefixed with "kinesin <command>: ". Output
// meant for programs (--json, tail --format json) is one JSON object per line.
//
// # kinesin fake
//
// kinesin fake serves the kinesistest fake, the in-memory Kinesis of
// github.com/kinesin-go/kinesin/kinesistest, on --addr (127.0.0.1:4567 by
// default): HTTP/1.1 and cleartext HTTP/2 (h2c) on that port, HTTP/2 and
// HTTP/1.1 over TLS on a second one with --tls, with a self-signed
// certificate it generates and writes to a file. It speaks JSON 1.1 and CBOR
// and serves SubscribeToShard's event stream. The first line it prints on
// standard output is the plain endpoint; the lines after it are "key: value"
// pairs (tls, cert, control, stream). Its control API, under
// /_kinesistest/, sets up, reshards and faults the fake over HTTP: see
// kinesistest.Control. Run kinesin fake --help for the flags.
package main
