// Command kinesin is the command-line companion of the kinesin library.
//
// Usage:
//
//	kinesin <command> [flags] [arguments]
//	kinesin help [command]
//	kinesin <command> --help
//
// Commands:
//
//	fake      serve an in-memory Kinesis (kinesistest) for SDKs and tools of any language
//	version   print the version of kinesin
//
// Flags are written --name VALUE or --name=VALUE (one dash works too), and may
// come before or after the arguments; "--" ends the flags. A boolean flag
// takes no value (--tls), or --tls=false.
//
// # Exit codes
//
//	0  success; for fake, also a graceful stop on SIGINT or SIGTERM
//	1  failure while running: an address that cannot be listened on, a file
//	   that cannot be written, a graceful stop that did not finish within
//	   --shutdown-timeout or was cut short by a second signal
//	2  usage error: an unknown command, an unknown flag, a bad flag value or
//	   argument (the message names it, then points at --help)
//
// Errors go to standard error, prefixed with "kinesin <command>: ".
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
