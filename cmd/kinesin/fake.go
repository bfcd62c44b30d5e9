package main

// kinesin fake: the kinesistest fake served on network addresses.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kinesin-go/kinesin/kinesistest"
)

const fakeDoc = `
Serves an in-memory Amazon Kinesis Data Streams, the kinesistest fake of the
kinesin library, for SDKs and tools of any language: JSON 1.1 and CBOR
requests, and SubscribeToShard's event stream.

The plain endpoint (--addr) speaks HTTP/1.1 and cleartext HTTP/2 (h2c). With
--tls, a second endpoint speaks HTTP/2 and HTTP/1.1 over TLS, with a
self-signed certificate generated at start for localhost, 127.0.0.1, ::1 and
the host of --tls-addr: a client trusts it as a CA. Any credentials are
accepted; no signature is checked.

Output: the first line on standard output is the plain endpoint, printed
once the fake is ready (listening, --create streams ACTIVE). "key: value"
lines follow:
  tls: https://127.0.0.1:4568        the TLS endpoint (with --tls)
  cert: /path/to/cert.pem            its certificate, PEM (with --tls)
  control: http://127.0.0.1:4567/_kinesistest/
  stream: NAME ARN                   one per --create
Messages go to standard error.

  kinesin fake --create orders:4 &
  AWS_ENDPOINT_URL_KINESIS=http://127.0.0.1:4567 AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws kinesis list-shards --stream-name orders

Profiles (--profile):
  fast        the default: streams, reshards and consumers are ACTIVE at once,
              only the caps of each call apply (GetRecords 10,000 records...)
  realistic   the service's timings (streams CREATING 10s, UPDATING 30s after
              a reshard, DELETING 10s; consumers CREATING and DELETING 5s) and
              all its limits: shard and consumer throughput, control-plane
              call rates, UpdateShardCount's 10 scalings a day
Both trim records past their stream's retention (24 hours unless changed) on
the fake's clock. Streams of --create are ACTIVE at once in both.

Control API: JSON over HTTP under /_kinesistest/ on both endpoints, to create
streams, put records, split, merge, scale, register consumers, inject faults
(throttling, 500s and 503s, expired iterators, latency, dropped connections,
cut event streams), count calls and move a --clock manual. It is documented
by the kinesistest package: go doc github.com/kinesin-go/kinesin/kinesistest.Control
  curl -d '{"name":"orders","shards":4}' http://127.0.0.1:4567/_kinesistest/streams
  curl -d '{"match":{"op":"GetRecords"},"action":{"type":"throttle"},"times":2}' \
    http://127.0.0.1:4567/_kinesistest/faults

Memory: the fake holds at most --max-stored-bytes of records (data and
partition keys, over every stream); a write past it fails with
LimitExceededException. Trimmed records and deleted streams free their bytes.

Stopping: SIGINT or SIGTERM stops it gracefully (no new connections,
SubscribeToShard streams end cleanly, requests in flight finish within
--shutdown-timeout) and it exits 0; a second signal stops it at once, exit 1.
`

// fakeFlags holds the flags of kinesin fake.
type fakeFlags struct {
	addr            string
	tls             bool
	tlsAddr         string
	certFile        string
	streams         streamList
	profile         choiceFlag
	region          string
	account         string
	maxStored       byteSize
	clock           clockFlag
	seed            uint64
	shutdownTimeout time.Duration
}

func fakeCommand() *command {
	return &command{
		name:    "fake",
		summary: "serve an in-memory Kinesis (kinesistest) for SDKs and tools of any language",
		doc:     fakeDoc,
		setup: func(fs *flag.FlagSet) runFunc {
			o := &fakeFlags{
				profile:   choiceFlag{value: "fast", choices: []string{"fast", "realistic"}},
				maxStored: kinesistest.DefaultMaxStoredBytes,
				clock:     clockFlag{kind: "real"},
			}
			fs.StringVar(&o.addr, "addr", "127.0.0.1:4567", "`HOST:PORT` of the plain endpoint, HTTP/1.1 and h2c (port 0 picks a free one;\n0.0.0.0 listens on every interface, as in a container)")
			fs.BoolVar(&o.tls, "tls", false, "also serve HTTP/2 over TLS, with a generated self-signed certificate")
			fs.StringVar(&o.tlsAddr, "tls-addr", "", "`HOST:PORT` of the TLS endpoint; implies --tls (default: the host of --addr,\nits port + 1, or a free port when --addr's port is 0)")
			fs.StringVar(&o.certFile, "cert-file", "", "`PATH` to write the TLS certificate to (PEM), kept at exit; implies --tls\n(default: a file in a temporary directory, removed at exit)")
			fs.Var(&o.streams, "create", "create `STREAM:SHARDS` at start, ACTIVE at once (repeatable)")
			fs.Var(&o.profile, "profile", "`PROFILE`: fast, or realistic for the service's timings and limits (see above);\nnot an AWS profile, as the --profile of the other commands is")
			fs.StringVar(&o.region, "region", "us-east-1", "`REGION` in the ARNs the fake makes")
			fs.StringVar(&o.account, "account", "123456789012", "12-digit `ACCOUNT` id in the ARNs the fake makes")
			fs.Var(&o.maxStored, "max-stored-bytes", "`SIZE` of records the fake holds at most (1GiB, 512MiB, 1048576...)")
			fs.Var(&o.clock, "clock", "the fake's `CLOCK`: real, manual (moved by POST /_kinesistest/clock/advance), or\na speed-up such as 60x (a 5-minute subscription then lasts 5 seconds)")
			fs.Uint64Var(&o.seed, "seed", 1, "`SEED` of the draws of faults injected with a probability")
			fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "`DURATION` a graceful stop waits for requests in flight")
			return func(e *env, args []string) error {
				fs.Visit(func(f *flag.Flag) {
					if f.Name == "tls-addr" || f.Name == "cert-file" {
						o.tls = true
					}
				})
				return o.run(e, args)
			}
		},
	}
}

// run serves the fake until a signal stops it.
func (o *fakeFlags) run(e *env, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q: fake takes flags only", args[0])
	}
	if o.shutdownTimeout <= 0 {
		return usagef("--shutdown-timeout %v is not positive", o.shutdownTimeout)
	}
	fake, err := o.newFake()
	if err != nil {
		return err
	}
	defer fake.Close()
	for _, s := range o.streams {
		if err := fake.CreateStream(s.name, s.shards); err != nil {
			return usagef("--create %s:%d: %v", s.name, s.shards, err)
		}
	}
	opts := []kinesistest.ServeOption{kinesistest.WithHandler(kinesistest.ControlPrefix, kinesistest.NewControl(fake))}
	if o.tls {
		opts = append(opts, kinesistest.WithTLS(o.tlsAddress()))
	}
	srv, err := kinesistest.Serve(fake, o.addr, opts...)
	if err != nil {
		return err
	}
	certPath, removeCert, err := o.writeCert(srv)
	if err != nil {
		srv.Close()
		return err
	}
	defer removeCert()

	fmt.Fprintln(e.stdout, srv.URL())
	if o.tls {
		fmt.Fprintf(e.stdout, "tls: %s\ncert: %s\n", srv.TLSURL(), certPath)
	}
	fmt.Fprintf(e.stdout, "control: %s%s\n", srv.URL(), kinesistest.ControlPrefix)
	for _, s := range o.streams {
		fmt.Fprintf(e.stdout, "stream: %s %s\n", s.name, fake.StreamARN(s.name))
	}
	fmt.Fprintf(e.stderr, "kinesin fake: serving, profile %s, region %s, account %s; SIGINT (Ctrl-C) or SIGTERM stops it\n",
		o.profile.value, o.region, o.account)

	sig := <-e.signals
	fmt.Fprintf(e.stderr, "kinesin fake: %v: stopping\n", sig)
	return o.stop(e, srv)
}

// stop shuts srv down gracefully, within --shutdown-timeout, or at once on a
// second signal.
func (o *fakeFlags) stop(e *env, srv *kinesistest.Server) error {
	errSecondSignal := errors.New("a second signal")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, o.shutdownTimeout,
		fmt.Errorf("--shutdown-timeout %v passed", o.shutdownTimeout))
	defer cancelTimeout()
	go func() {
		select {
		case <-e.signals:
			cancel(errSecondSignal)
		case <-ctx.Done():
		}
	}()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("stopped at once, closing the connections of requests in flight: %w", context.Cause(ctx))
	}
	fmt.Fprintln(e.stderr, "kinesin fake: stopped")
	return nil
}

// newFake makes the fake; a flag value the fake refuses is a usage error
// naming the flag.
func (o *fakeFlags) newFake() (*kinesistest.Fake, error) {
	type flagOption struct {
		flag string
		opt  kinesistest.Option
	}
	var opts []flagOption
	if o.profile.value == "realistic" {
		opts = append(opts, flagOption{"--profile", kinesistest.WithRealistic()})
	}
	opts = append(opts,
		flagOption{"--region", kinesistest.WithRegion(o.region)},
		flagOption{"--account", kinesistest.WithAccountID(o.account)},
		flagOption{"--max-stored-bytes", kinesistest.WithMaxStoredBytes(int64(o.maxStored))},
		flagOption{"--clock", kinesistest.WithClock(o.clock.clock(time.Now()))},
		flagOption{"--seed", kinesistest.WithSeed(o.seed)},
	)
	all := make([]kinesistest.Option, len(opts))
	for i, fo := range opts {
		all[i] = fo.opt
	}
	fake, err := kinesistest.NewFake(all...)
	if err == nil {
		return fake, nil
	}
	// Find the flag whose value was refused.
	for _, fo := range opts {
		f, ferr := kinesistest.NewFake(fo.opt)
		if ferr != nil {
			return nil, usagef("%s: %v", fo.flag, ferr)
		}
		f.Close()
	}
	return nil, usagef("%v", err)
}

// tlsAddress returns --tls-addr, or the host of --addr with its port + 1
// (0 when --addr's port is 0 or not a number).
func (o *fakeFlags) tlsAddress() string {
	if o.tlsAddr != "" {
		return o.tlsAddr
	}
	host, port, err := net.SplitHostPort(o.addr)
	if err != nil {
		return o.addr
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p >= 65535 {
		p = -1
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1))
}

// writeCert writes the TLS certificate to --cert-file, or to a new temporary
// directory, and returns its path and what removes what it made. Without
// TLS it does nothing.
func (o *fakeFlags) writeCert(srv *kinesistest.Server) (string, func(), error) {
	if !o.tls {
		return "", func() {}, nil
	}
	if o.certFile != "" {
		if err := os.WriteFile(o.certFile, srv.CertificatePEM(), 0o644); err != nil {
			return "", nil, fmt.Errorf("writing the certificate: %w", err)
		}
		abs, err := filepath.Abs(o.certFile)
		if err != nil {
			abs = o.certFile
		}
		return abs, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "kinesin-fake-")
	if err != nil {
		return "", nil, fmt.Errorf("writing the certificate: %w", err)
	}
	path := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(path, srv.CertificatePEM(), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("writing the certificate: %w", err)
	}
	return path, func() { os.RemoveAll(dir) }, nil
}
