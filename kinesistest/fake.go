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
	// rates holds the windows of the control-plane call rates that apply
	// per account, with WithServiceLimits.
	rates map[string]*rateWindow
	// stored is the bytes of records held, bounded by MaxStoredBytes.
	stored int64
	// deleting are the streams DELETING, removed once their time is over.
	deleting []*stream

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

// New returns an empty Fake for a test. The fake is closed in tb.Cleanup and
// helper failures are reported with tb.Errorf. An option given a value out of
// its range fails the test with a message naming the option, and the fake is
// built without that option. Outside tests, use NewFake.
//
// New(nil, ...) is still accepted, for examples and programs that cannot
// fail: an invalid option is then left out silently, and the caller must
// call Close.
func New(tb TB, opts ...Option) *Fake {
	if tb != nil {
		tb.Helper()
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		if tb != nil {
			tb.Errorf("kinesistest.New: %v", err)
		}
		cfg = buildValid(opts)
	}
	f := newFake(cfg)
	if tb != nil {
		f.tb = tb
		tb.Cleanup(f.Close)
	}
	return f
}

// NewFake returns an empty Fake, or an error wrapping ErrInvalidOption when
// an option is given a value out of its range. The caller must call Close.
func NewFake(opts ...Option) (*Fake, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	return newFake(cfg), nil
}

// buildValid applies the options that are valid, one by one.
func buildValid(opts []Option) config {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		next := cfg
		if o(&next) == nil {
			cfg = next
		}
	}
	return cfg
}

func newFake(cfg config) *Fake {
	return &Fake{
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
