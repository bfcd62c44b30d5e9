package main

// What the operator commands share: the AWS flags and clients, the stores
// named by URL, the app, and a context that ends at the first signal.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/redis/go-redis/v9"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/dynamocheckpoint"
	"github.com/kinesin-go/kinesin/checkpoint/redischeckpoint"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/dynamolease"
)

// awsFlags are the flags of the AWS configuration: the same for every
// command that calls AWS.
type awsFlags struct {
	endpoint       string
	dynamoEndpoint string
	region         string
	profile        string
}

func (a *awsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.endpoint, "endpoint", "", "`URL` of the Kinesis endpoint, such as http://127.0.0.1:4567 for kinesin fake\n(default: the AWS configuration's, else the region's)")
	fs.StringVar(&a.dynamoEndpoint, "dynamodb-endpoint", "", "`URL` of the DynamoDB endpoint, for dynamodb:// stores, such as dynalite's\n(default: the AWS configuration's, else the region's)")
	fs.StringVar(&a.region, "region", "", "AWS `REGION` (default: the AWS configuration's: AWS_REGION, the profile's)")
	fs.StringVar(&a.profile, "profile", "", "`NAME` of the AWS shared configuration profile to use (default: AWS_PROFILE, else\n\"default\"). Not kinesin fake's --profile, which picks its timings.")
}

// clients holds the AWS configuration loaded from the flags.
type clients struct {
	flags *awsFlags
	cfg   aws.Config
}

// load reads the AWS configuration: the environment, the shared files, the
// flags over them. A missing region is a usage error.
func (a *awsFlags) load(ctx context.Context) (*clients, error) {
	var opts []func(*config.LoadOptions) error
	if a.region != "" {
		opts = append(opts, config.WithRegion(a.region))
	}
	if a.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(a.profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		if a.profile != "" {
			return nil, fmt.Errorf("loading the AWS configuration of --profile %s: %w", a.profile, err)
		}
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, usagef("no AWS region: pass --region or set AWS_REGION")
	}
	return &clients{flags: a, cfg: cfg}, nil
}

func (c *clients) kinesis() *kinesis.Client {
	return kinesis.NewFromConfig(c.cfg, func(o *kinesis.Options) {
		if c.flags.endpoint != "" {
			o.BaseEndpoint = aws.String(c.flags.endpoint)
		}
	})
}

func (c *clients) dynamodb() *dynamodb.Client {
	return dynamodb.NewFromConfig(c.cfg, func(o *dynamodb.Options) {
		if c.flags.dynamoEndpoint != "" {
			o.BaseEndpoint = aws.String(c.flags.dynamoEndpoint)
		}
	})
}

// checkURL reports whether s is an absolute http(s) URL, for --endpoint
// and --dynamodb-endpoint.
func checkURL(flagName, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--%s %q: want a URL such as http://127.0.0.1:4567", flagName, s)
	}
	return nil
}

func (a *awsFlags) check() error {
	if err := checkURL("endpoint", a.endpoint); err != nil {
		return err
	}
	return checkURL("dynamodb-endpoint", a.dynamoEndpoint)
}

// storeURL is a --store or --leases flag: where checkpoints or leases are
// kept, as dynamodb://TABLE or redis://HOST:PORT[/DB].
type storeURL struct {
	raw    string
	kind   string // "dynamodb" or "redis"; "" when unset
	table  string // dynamodb
	redis  *redis.Options
	prefix string // redis key prefix; "" for the default
	leases bool   // the flag is --leases: DynamoDB only
}

func (s *storeURL) String() string { return s.raw }

func (s *storeURL) Set(v string) error {
	want := "dynamodb://TABLE or redis://HOST:PORT[/DB]"
	if s.leases {
		want = "dynamodb://TABLE"
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("want %s", want)
	}
	switch {
	case u.Scheme == "dynamodb":
		if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("want dynamodb://TABLE, a table name and nothing else")
		}
		*s = storeURL{raw: v, kind: "dynamodb", table: u.Host, leases: s.leases}
		return nil
	case (u.Scheme == "redis" || u.Scheme == "rediss") && !s.leases:
		q := u.Query()
		prefix := q.Get("prefix")
		q.Del("prefix")
		u.RawQuery = q.Encode()
		opts, err := redis.ParseURL(u.String())
		if err != nil {
			return fmt.Errorf("want redis://HOST:PORT[/DB][?prefix=P]: %v", err)
		}
		*s = storeURL{raw: v, kind: "redis", redis: opts, prefix: prefix}
		return nil
	case u.Scheme == "redis" || u.Scheme == "rediss":
		return fmt.Errorf("leases are kept in DynamoDB only: want %s", want)
	}
	return fmt.Errorf("unknown store %q: want %s", u.Scheme+"://", want)
}

// storeFlags are the flags naming the consumer group and where its
// positions are kept.
type storeFlags struct {
	app    string
	store  storeURL
	leases storeURL
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	s.leases.leases = true
	fs.StringVar(&s.app, "app", "", "`NAME` of the consumer group (kinesin.WithApp)")
	fs.Var(&s.store, "store", "`URL` of the checkpoint store (kinesin.WithCheckpointer): dynamodb://TABLE, or\nredis://HOST:PORT[/DB][?prefix=P] (rediss:// for TLS; user and password as in\nredis://USER:PASSWORD@HOST:PORT)")
	fs.Var(&s.leases, "leases", "`URL` of the lease table (kinesin.WithLeases), where the checkpoints of an app\nwith leases are: dynamodb://TABLE")
}

// need checks that --app and exactly one of --store and --leases are given
// (with leasesOnly, --leases).
func (s *storeFlags) need(leasesOnly bool) error {
	switch {
	case s.app == "":
		return usagef("--app is required")
	case leasesOnly && s.leases.kind == "":
		return usagef("--leases dynamodb://TABLE is required")
	case leasesOnly && s.store.kind != "":
		return usagef("--store does not apply: leases are listed from --leases")
	case s.store.kind == "" && s.leases.kind == "":
		return usagef("one of --store URL (checkpoints) or --leases URL (leases) is required")
	case s.store.kind != "" && s.leases.kind != "":
		return usagef("--store and --leases both given: an app with leases keeps its checkpoints in them; give --leases only")
	}
	return nil
}

// quietRedis drops go-redis's own log lines: its errors reach the command
// through the store.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// checkpointStore opens the checkpoint store of --store.
func (s *storeFlags) checkpointStore(c *clients) (checkpoint.Admin, func()) {
	if s.store.kind == "redis" {
		redis.SetLogger(quietRedis{})
		client := redis.NewClient(s.store.redis)
		var opts []redischeckpoint.Option
		if s.store.prefix != "" {
			opts = append(opts, redischeckpoint.WithPrefix(s.store.prefix))
		}
		return redischeckpoint.New(client, opts...), func() { client.Close() }
	}
	return dynamocheckpoint.New(c.dynamodb(), s.store.table, dynamocheckpoint.WithMaxRetryTime(storeRetry)), func() {}
}

// storeRetry bounds how long a store call is retried on throttling and
// transient errors: an operator would rather see the error.
const storeRetry = 2 * time.Second

// leaseStore opens the lease store of --leases.
func (s *storeFlags) leaseStore(c *clients) lease.Store {
	return dynamolease.New(c.dynamodb(), s.leases.table, dynamolease.WithMaxRetryTime(storeRetry))
}

// url returns the URL of the store of the app: --leases, else --store.
func (s *storeFlags) url() string {
	if s.leases.kind != "" {
		return s.leases.raw
	}
	return s.store.raw
}

// where names the store of the app, for headers.
func (s *storeFlags) where() string {
	if s.leases.kind != "" {
		return "leases " + s.leases.raw
	}
	return "store " + s.store.raw
}

// session returns what a command runs with: a context that ends at the
// first signal (its cancel function, to defer even on an error), and, when
// need, the AWS configuration.
func (a *awsFlags) session(e *env, need bool) (context.Context, context.CancelFunc, *clients, error) {
	ctx, cancel := e.signalContext()
	if !need {
		return ctx, cancel, nil, nil
	}
	c, err := a.load(ctx)
	return ctx, cancel, c, err
}

// signalContext returns a context that ends at the first signal e receives
// (SIGINT, SIGTERM), and its cancel function.
func (e *env) signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-e.signals:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// interrupted reports whether err is the end of ctx by a signal, which
// ends a command normally.
func interrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}

// firstError returns the first error of errs that is not nil.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// oneStream returns the single argument, the stream name.
func oneStream(args []string) (string, error) {
	switch {
	case len(args) == 0:
		return "", usagef("the stream name is missing")
	case len(args) > 1:
		return "", usagef("unexpected argument %q after the stream name", args[1])
	case strings.TrimSpace(args[0]) == "":
		return "", usagef("the stream name is empty")
	}
	return args[0], nil
}
