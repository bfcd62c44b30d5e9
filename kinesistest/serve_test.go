package kinesistest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// protoRecorder records the protocol of every response.
type protoRecorder struct {
	base   http.RoundTripper
	mu     sync.Mutex
	protos map[string]int
}

func (r *protoRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.protos[resp.Proto]++
		r.mu.Unlock()
	}
	return resp, err
}

func (r *protoRecorder) seen() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.protos))
	for k, v := range r.protos {
		out[k] = v
	}
	return out
}

// serveClient returns an SDK client for url over tr, with a recorder of the
// protocols the responses came in.
func serveClient(t *testing.T, url string, tr *http.Transport) (*kinesis.Client, *protoRecorder) {
	t.Cleanup(tr.CloseIdleConnections)
	rec := &protoRecorder{base: tr, protos: map[string]int{}}
	return kinesis.New(kinesis.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDSERVE", "serve-secret", ""),
		BaseEndpoint:     aws.String(url),
		HTTPClient:       &http.Client{Transport: rec},
		RetryMaxAttempts: 1,
	}), rec
}

// h2cTransport speaks cleartext HTTP/2 only, with prior knowledge.
func h2cTransport() *http.Transport {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{Protocols: &p}
}

// tlsH2Transport speaks HTTP/2 over TLS only, trusting roots.
func tlsH2Transport(roots *x509.CertPool) *http.Transport {
	var p http.Protocols
	p.SetHTTP2(true)
	return &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{RootCAs: roots}}
}

func serveFake(t *testing.T, opts ...kinesistest.ServeOption) (*kinesistest.Fake, *kinesistest.Server) {
	t.Helper()
	fake := kinesistest.New(t)
	srv, err := kinesistest.Serve(fake, "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return fake, srv
}

// The Go SDK reads SubscribeToShard over cleartext HTTP/2 and over HTTP/2
// with TLS: records put before and while subscribed, then the end of the
// shard with its children when the shard is split.
func TestServeHTTP2SubscribeToShard(t *testing.T) {
	t.Parallel()
	fake, srv := serveFake(t, kinesistest.WithTLS("127.0.0.1:0"))
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") || !strings.HasPrefix(srv.TLSURL(), "https://127.0.0.1:") {
		t.Fatalf("URL %q, TLSURL %q", srv.URL(), srv.TLSURL())
	}
	for _, tc := range []struct {
		name string
		url  string
		tr   *http.Transport
	}{
		{"h2c", srv.URL(), h2cTransport()},
		{"tls", srv.TLSURL(), tlsH2Transport(srv.CertPool())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := serveClient(t, tc.url, tc.tr)
			ctx := t.Context()
			stream := "s-" + tc.name
			if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)}); err != nil {
				t.Fatal(err)
			}
			arn, err := fake.RegisterConsumer(stream, "c")
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{"a", "b"} {
				if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte(d)}); err != nil {
					t.Fatal(err)
				}
			}
			sub, err := fxSubscribeWith(t, c, arn, shard0, fxTrimHorizon())
			if err != nil {
				t.Fatal(err)
			}
			recs, _ := sub.records(2)
			if got := fxData(recs); !fxEqual(got, []string{"a", "b"}) {
				t.Fatalf("read %v", got)
			}
			if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte("live")}); err != nil {
				t.Fatal(err)
			}
			if recs, _ := sub.records(1); fxData(recs)[0] != "live" {
				t.Fatalf("read %v", fxData(recs))
			}
			kids, err := fake.Split(stream, shard0)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := sub.end()
			if err != nil {
				t.Fatalf("stream ended with %v", err)
			}
			if len(evs) == 0 || len(evs[len(evs)-1].ChildShards) != 2 || aws.ToString(evs[len(evs)-1].ChildShards[0].ShardId) != kids[0] {
				t.Fatalf("last events %+v, want the children %v", evs, kids)
			}
			if seen := rec.seen(); len(seen) != 1 || seen["HTTP/2.0"] == 0 {
				t.Fatalf("responses came in %v, want HTTP/2.0 only", seen)
			}
		})
	}
}

// The plain address speaks HTTP/1.1 too, and serves what WithHandler
// mounts beside the Kinesis protocol.
func TestServeHTTP1AndHandlers(t *testing.T) {
	t.Parallel()
	_, srv := serveFake(t, kinesistest.WithHandler("/_extra/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "extra "+r.URL.Path)
	})))
	var p http.Protocols
	p.SetHTTP1(true)
	c, rec := serveClient(t, srv.URL(), &http.Transport{Protocols: &p})
	if _, err := c.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if seen := rec.seen(); seen["HTTP/1.1"] != 1 || len(seen) != 1 {
		t.Fatalf("responses came in %v, want HTTP/1.1", seen)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL() + "/_extra/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "extra /_extra/x" {
		t.Fatalf("mounted handler answered %q", body)
	}
	if srv.TLSURL() != "" || srv.CertificatePEM() != nil || srv.CertPool() != nil {
		t.Fatal("TLS details without WithTLS")
	}
}

// Shutdown ends the subscriptions the server carries, waits for the
// requests in flight, and leaves the fake open; the address then refuses
// connections.
func TestServeShutdown(t *testing.T) {
	t.Parallel()
	fake, srv := serveFake(t, kinesistest.WithTLS("127.0.0.1:0"))
	fake.CreateStream("s", 1)
	arn, _ := fake.RegisterConsumer("s", "c")
	c, _ := serveClient(t, srv.URL(), h2cTransport())
	sub, err := fxSubscribeWith(t, c, arn, shard0, fxTrimHorizon())
	if err != nil {
		t.Fatal(err)
	}
	sub.next()
	ctx, cancel := context.WithTimeout(context.Background(), fxDeadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := sub.end(); err != nil {
		t.Logf("stream ended with %v", err)
	}
	if got := fxWaitEnded(t, fake, 0).EndReason; got != "server stopped" {
		t.Fatalf("EndReason %q, want server stopped", got)
	}
	_, err = c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("s")})
	if err == nil {
		t.Fatal("a call after Shutdown succeeded")
	}
	// The fake itself is still open.
	if _, err := fake.Put("s", "k", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestServeErrors(t *testing.T) {
	t.Parallel()
	fake := kinesistest.New(t)
	for name, f := range map[string]func() (*kinesistest.Server, error){
		"nil fake":    func() (*kinesistest.Server, error) { return kinesistest.Serve(nil, "127.0.0.1:0") },
		"bad address": func() (*kinesistest.Server, error) { return kinesistest.Serve(fake, "127.0.0.1:99999") },
		"empty TLS": func() (*kinesistest.Server, error) {
			return kinesistest.Serve(fake, "127.0.0.1:0", kinesistest.WithTLS(""))
		},
		"bad TLS": func() (*kinesistest.Server, error) {
			return kinesistest.Serve(fake, "127.0.0.1:0", kinesistest.WithTLS("nohost:-1"))
		},
		"root handler": func() (*kinesistest.Server, error) {
			return kinesistest.Serve(fake, "127.0.0.1:0", kinesistest.WithHandler("/", http.NotFoundHandler()))
		},
		"nil handler": func() (*kinesistest.Server, error) {
			return kinesistest.Serve(fake, "127.0.0.1:0", kinesistest.WithHandler("/x/", nil))
		},
		"nil option set": func() (*kinesistest.Server, error) {
			return kinesistest.Serve(fake, "127.0.0.1:0", nil, kinesistest.WithTLS(""))
		},
	} {
		srv, err := f()
		if !errors.Is(err, kinesistest.ErrServe) || srv != nil {
			t.Errorf("%s: %v, %v; want ErrServe", name, srv, err)
		}
	}
}

// The certificate is a PEM a client trusts as a root, for the loopback
// names.
func TestServeCertificate(t *testing.T) {
	t.Parallel()
	_, srv := serveFake(t, kinesistest.WithTLS("localhost:0"))
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CertificatePEM()) {
		t.Fatal("CertificatePEM is not a PEM certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, ForceAttemptHTTP2: true}
	c, rec := serveClient(t, srv.TLSURL(), tr)
	ctx, cancel := context.WithTimeout(t.Context(), fxDeadline)
	defer cancel()
	if _, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatal(err)
	}
	if seen := rec.seen(); seen["HTTP/2.0"] != 1 {
		t.Fatalf("responses came in %v, want HTTP/2 by ALPN", seen)
	}
}

// Injected connection faults surface over HTTP/2 as over HTTP/1.1: a cut
// stream ends with an error, a dropped call fails.
func TestServeHTTP2Faults(t *testing.T) {
	t.Parallel()
	fake, srv := serveFake(t)
	fake.CreateStream("s", 1)
	arn, _ := fake.RegisterConsumer("s", "c")
	c, _ := serveClient(t, srv.URL(), h2cTransport())
	fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard"}, Action: kinesistest.CutStream(1), Times: 1})
	sub, err := fxSubscribeWith(t, c, arn, shard0, fxTrimHorizon())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.end(); err == nil {
		t.Fatal("a cut stream ended without an error")
	}
	fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShards"}, Action: kinesistest.DropConnection, Times: 1})
	if _, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("s")}); err == nil {
		t.Fatal("a dropped call succeeded")
	}
	if _, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("s")}); err != nil {
		t.Fatalf("the call after a dropped one: %v", err)
	}
}
