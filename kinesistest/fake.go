package kinesistest

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// TB is the part of testing.TB the fake uses: *testing.T, *testing.B and
// *testing.F satisfy it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Cleanup(func())
}

// Option configures a Fake. Options never fail; a value out of range is
// replaced by the default named in the option's documentation.
type Option func(*config)

type config struct {
	clock          Clock
	region         string
	account        string
	limits         *Limits
	seed           uint64
	streamDelay    time.Duration
	reshardDelay   time.Duration
	consumerDelay  time.Duration
	heartbeat      time.Duration
	shardLimit     int
	maxEventRecord int
}

// WithClock sets the clock every time-based behaviour runs on, overriding the
// default RealClock().
func WithClock(c Clock) Option {
	return func(cfg *config) {
		if c != nil {
			cfg.clock = c
		}
	}
}

// WithRegion sets the region used in ARNs, overriding the default "us-east-1".
func WithRegion(region string) Option {
	return func(cfg *config) {
		if region != "" {
			cfg.region = region
		}
	}
}

// WithAccountID sets the account used in ARNs, overriding the default
// "123456789012".
func WithAccountID(id string) Option {
	return func(cfg *config) {
		if id != "" {
			cfg.account = id
		}
	}
}

// WithServiceLimits turns on the service's throughput limits (see Limits),
// overriding the default of no limits beyond the per-call caps every
// GetRecords and PutRecords call has.
func WithServiceLimits(l Limits) Option {
	return func(cfg *config) {
		l.fill()
		cfg.limits = &l
	}
}

// WithSeed seeds the random source used by probabilistic faults, overriding
// the default seed 1, so a test run is repeatable.
func WithSeed(seed uint64) Option {
	return func(cfg *config) { cfg.seed = seed }
}

// StreamCreationDelay sets how long a stream created through CreateStream
// stays CREATING before it becomes ACTIVE, overriding the default 0. The
// CreateStream helper of the Fake always makes streams ACTIVE at once.
func StreamCreationDelay(d time.Duration) Option {
	return func(cfg *config) { cfg.streamDelay = max(d, 0) }
}

// ReshardDelay sets how long a stream stays UPDATING after SplitShard,
// MergeShards or UpdateShardCount, overriding the default 0. The new shards
// exist at once; while UPDATING, further resharding fails with
// ResourceInUseException, as it does on the service.
func ReshardDelay(d time.Duration) Option {
	return func(cfg *config) { cfg.reshardDelay = max(d, 0) }
}

// ConsumerActivationDelay sets how long a registered EFO consumer stays
// CREATING (and a deregistered one DELETING), overriding the default 0.
func ConsumerActivationDelay(d time.Duration) Option {
	return func(cfg *config) { cfg.consumerDelay = max(d, 0) }
}

// SubscriptionHeartbeat sets how often a SubscribeToShard stream sends an
// empty event while there is nothing new to send, overriding the default 5s.
func SubscriptionHeartbeat(d time.Duration) Option {
	return func(cfg *config) {
		if d > 0 {
			cfg.heartbeat = d
		}
	}
}

// ShardLimit sets the account's shard limit checked by CreateStream,
// UpdateShardCount and SplitShard, overriding the default 10000.
func ShardLimit(n int) Option {
	return func(cfg *config) {
		if n > 0 {
			cfg.shardLimit = n
		}
	}
}

// Fake is an in-memory Kinesis Data Streams service. It serves the Kinesis
// JSON 1.1 protocol and the SubscribeToShard event stream to the real
// aws-sdk-go-v2 client, through Client (in process), URL (loopback HTTP) or
// as an http.Handler. All methods are safe for concurrent use.
type Fake struct {
	cfg   config
	clock Clock
	tb    TB

	mu        sync.Mutex
	streams   map[string]*stream
	consumers map[string]*consumer // by ARN
	gen       uint64
	calls     map[string]int
	faults    []*Injected
	rng       *rand.Rand
	subs      []*subscription
	active    map[string]*subscription // consumer ARN + "/" + shard id
	// lastSubscribe and subCalls hold, per consumer ARN + "/" + shard id, the
	// time of the last successful SubscribeToShard and of the last call.
	lastSubscribe map[string]time.Time
	subCalls      map[string]time.Time
	// efoBudgets holds the EFO read budget per consumer ARN + "/" + shard id,
	// with WithServiceLimits.
	efoBudgets map[string]*tokenBucket

	srvOnce  sync.Once
	srv      *httptest.Server // guarded by lifeMu; set with url and loopback
	url      string
	loopback *http.Transport // of the AWSConfig client

	closeOnce sync.Once
	closed    chan struct{}
	lifeMu    sync.Mutex
	closing   bool
	wg        sync.WaitGroup // requests in flight on the in-process transport
}

// New returns an empty Fake. When tb is not nil, the fake is closed in
// tb.Cleanup and helper failures are reported with tb.Errorf; outside tests,
// pass nil and call Close.
func New(tb TB, opts ...Option) *Fake {
	cfg := config{
		clock:          RealClock(),
		region:         "us-east-1",
		account:        "123456789012",
		seed:           1,
		heartbeat:      5 * time.Second,
		shardLimit:     10000,
		maxEventRecord: maxGetRecordsLimit,
	}
	for _, o := range opts {
		o(&cfg)
	}
	f := &Fake{
		cfg:           cfg,
		clock:         cfg.clock,
		streams:       make(map[string]*stream),
		consumers:     make(map[string]*consumer),
		calls:         make(map[string]int),
		rng:           rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15)),
		active:        make(map[string]*subscription),
		lastSubscribe: make(map[string]time.Time),
		subCalls:      make(map[string]time.Time),
		efoBudgets:    make(map[string]*tokenBucket),
		closed:        make(chan struct{}),
	}
	if tb != nil {
		tb.Helper()
		f.tb = tb
		tb.Cleanup(f.Close)
	}
	return f
}

// Clock returns the clock the fake runs on.
func (f *Fake) Clock() Clock { return f.clock }

// Handler returns the fake as an http.Handler serving the Kinesis protocol on
// POST /.
func (f *Fake) Handler() http.Handler { return http.HandlerFunc(f.serveHTTP) }

// URL starts (once) a loopback HTTP server on 127.0.0.1 serving the fake and
// returns its base URL, for any SDK or tool. Close stops it; after Close, the
// URL refuses connections.
func (f *Fake) URL() string {
	f.srvOnce.Do(func() {
		srv := httptest.NewServer(f.Handler())
		f.url = srv.URL
		f.loopback = http.DefaultTransport.(*http.Transport).Clone()
		f.lifeMu.Lock()
		closing := f.closing
		if !closing {
			f.srv = srv
		}
		f.lifeMu.Unlock()
		if closing {
			srv.Close()
		}
	})
	return f.url
}

// Client returns a real *kinesis.Client wired to the fake through an
// in-process transport: no sockets, streaming responses included. It uses
// static test credentials, the fake's region, and the SDK's default retryer;
// optFns adjust the client options after those (for example
// o.RetryMaxAttempts = 1 to see every throttle).
func (f *Fake) Client(optFns ...func(*kinesis.Options)) *kinesis.Client {
	return kinesis.New(f.ClientOptions(), optFns...)
}

// ClientOptions returns kinesis.Options wired to the fake's in-process
// transport, for building a client by hand.
func (f *Fake) ClientOptions() kinesis.Options {
	return kinesis.Options{
		Region:       f.cfg.region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDKINESISTEST", "kinesistest-secret", ""),
		BaseEndpoint: aws.String("http://kinesistest.invalid"),
		HTTPClient:   &http.Client{Transport: &transport{fake: f}},
	}
}

// AWSConfig returns an aws.Config for the loopback URL (starting it), for
// code that builds its own clients with kinesis.NewFromConfig. It uses static
// test credentials, the fake's region and an HTTP client of its own, whose
// idle connections Close closes.
//
// That HTTP client hides WriteTo on request bodies. Over HTTP/1.1, net/http
// copies a request body once more after Content-Length bytes to find extra
// bytes; the SDK's body returns io.EOF as an error from WriteTo once the SDK
// has closed it, which it does as soon as the response arrives. A response as
// fast as the fake's can come first, and net/http then closes the connection
// under the response being read: SubscribeToShard streams die at random. The
// service, reached over HTTP/2, is not affected.
func (f *Fake) AWSConfig() aws.Config {
	url := f.URL()
	return aws.Config{
		Region:       f.cfg.region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDKINESISTEST", "kinesistest-secret", ""),
		BaseEndpoint: aws.String(url),
		HTTPClient:   &http.Client{Transport: hideWriteTo{f.loopback}},
	}
}

// hideWriteTo sends request bodies through their Read method only.
type hideWriteTo struct{ base http.RoundTripper }

func (t hideWriteTo) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, ok := req.Body.(io.WriterTo); ok && req.Body != http.NoBody {
		r := *req
		r.Body = struct{ io.ReadCloser }{req.Body}
		req = &r
	}
	return t.base.RoundTrip(req)
}

// Close ends every subscription, stops the loopback server and waits for
// every request in flight to finish. It is idempotent.
func (f *Fake) Close() {
	f.closeOnce.Do(func() {
		f.lifeMu.Lock()
		f.closing = true
		srv := f.srv
		f.lifeMu.Unlock()
		close(f.closed)
		if srv != nil {
			srv.CloseClientConnections()
			srv.Close()
			f.loopback.CloseIdleConnections()
		}
		f.wg.Wait()
	})
}

// done is closed by Close.
func (f *Fake) done() <-chan struct{} { return f.closed }

// sleep waits d on the fake's clock; it returns false if ctx ended or the fake
// closed first.
func (f *Fake) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	wait, stop := clockTimer(f.clock, d)
	defer stop()
	select {
	case <-wait:
		return true
	case <-ctx.Done():
		return false
	case <-f.closed:
		return false
	}
}

func (f *Fake) streamARN(name string) string {
	return "arn:aws:kinesis:" + f.cfg.region + ":" + f.cfg.account + ":stream/" + name
}
