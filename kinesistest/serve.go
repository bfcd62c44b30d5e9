package kinesistest

// Serving a fake on a network address, for SDKs and tools of any language.
//
// Behavior:
//   - The plain address speaks HTTP/1.1 and cleartext HTTP/2 with prior
//     knowledge (h2c), the way SDKs reach a local endpoint over HTTP/2; the
//     TLS address (WithTLS) speaks HTTP/2 and HTTP/1.1, chosen by ALPN,
//     with a self-signed certificate generated at start.
//   - Both serve the Kinesis protocol (JSON 1.1 and CBOR, and the
//     SubscribeToShard event stream) on POST /, and whatever WithHandler
//     mounts beside it.
//   - Shutdown stops accepting connections, ends the subscriptions the
//     server carries (their streams end cleanly, as the service's do after 5
//     minutes: clients subscribe again) and waits for the requests in flight,
//     up to its context's deadline, after which it closes every connection.
//     The fake stays open: its owner closes it.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ErrServe is wrapped by the errors of Serve.
var ErrServe = errors.New("kinesistest: cannot serve")

// ServeOption configures Serve.
type ServeOption func(*serveConfig) error

type serveConfig struct {
	tlsAddr  string
	handlers []mounted
}

type mounted struct {
	pattern string
	h       http.Handler
}

// WithTLS also serves the fake over TLS on addr (host:port; port 0 picks a
// free one), HTTP/2 and HTTP/1.1, with a self-signed certificate generated
// at start for localhost, 127.0.0.1, ::1 and the host of addr. The default
// is no TLS. An empty addr is refused.
func WithTLS(addr string) ServeOption {
	return func(c *serveConfig) error {
		if addr == "" {
			return fmt.Errorf("%w: WithTLS: empty address", ErrServe)
		}
		c.tlsAddr = addr
		return nil
	}
}

// WithHandler serves h for requests matching pattern (an http.ServeMux
// pattern, such as "/_control/") beside the Kinesis protocol, which keeps
// "/". The default is the Kinesis protocol alone. A pattern of "/" or a nil
// handler is refused.
func WithHandler(pattern string, h http.Handler) ServeOption {
	return func(c *serveConfig) error {
		if h == nil || pattern == "" || pattern == "/" {
			return fmt.Errorf("%w: WithHandler: pattern %q and handler %v cannot be served beside the Kinesis protocol", ErrServe, pattern, h)
		}
		c.handlers = append(c.handlers, mounted{pattern, h})
		return nil
	}
}

// Server serves a Fake on network addresses, for SDKs and tools of any
// language: HTTP/1.1 and h2c on a plain address, and, with WithTLS, HTTP/2
// and HTTP/1.1 over TLS. Its methods are safe for concurrent use.
type Server struct {
	fake    *Fake
	url     string
	tlsURL  string
	certPEM []byte
	servers []*http.Server
	stop    chan struct{} // closed by Shutdown: ends the subscriptions carried
	wg      sync.WaitGroup
	once    sync.Once
}

// stopKey carries a server's stop channel in the context of its requests.
type stopKey struct{}

// serverStop returns the stop channel of the server carrying a request, or
// nil for a request not carried by a Server.
func serverStop(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stopKey{}).(chan struct{})
	return ch
}

// Serve serves f on addr (host:port; port 0 picks a free one) until Shutdown
// or Close, and returns at once: the listeners are open when it returns.
// It fails, with an error wrapping ErrServe, when f is nil, an option is
// invalid, or an address cannot be listened on.
func Serve(f *Fake, addr string, opts ...ServeOption) (*Server, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: nil fake", ErrServe)
	}
	var cfg serveConfig
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Server{fake: f, stop: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("/", f.Handler())
	for _, m := range cfg.handlers {
		mux.Handle(m.pattern, m.h)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stopKey{}, s.stop)))
	})

	plain, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrServe, err)
	}
	s.url = "http://" + dialable(plain.Addr())
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	listeners := []net.Listener{plain}
	s.servers = append(s.servers, newHTTPServer(handler, &protocols, nil))

	if cfg.tlsAddr != "" {
		cert, certPEM, err := selfSigned(hostOf(cfg.tlsAddr), time.Now())
		if err != nil {
			plain.Close()
			return nil, fmt.Errorf("%w: generating a certificate: %v", ErrServe, err)
		}
		ln, err := net.Listen("tcp", cfg.tlsAddr)
		if err != nil {
			plain.Close()
			return nil, fmt.Errorf("%w: %v", ErrServe, err)
		}
		s.certPEM = certPEM
		s.tlsURL = "https://" + dialable(ln.Addr())
		var tlsProtocols http.Protocols
		tlsProtocols.SetHTTP1(true)
		tlsProtocols.SetHTTP2(true)
		srv := newHTTPServer(handler, &tlsProtocols, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		s.servers = append(s.servers, srv)
		listeners = append(listeners, tls.NewListener(ln, srv.TLSConfig.Clone()))
	}
	for i, srv := range s.servers {
		ln := listeners[i]
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = srv.Serve(ln) // ErrServerClosed once stopped
		}()
	}
	return s, nil
}

func newHTTPServer(h http.Handler, p *http.Protocols, tc *tls.Config) *http.Server {
	if tc != nil {
		tc.NextProtos = []string{"h2", "http/1.1"}
	}
	return &http.Server{
		Handler:           h,
		Protocols:         p,
		TLSConfig:         tc,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    1 << 20,
	}
}

// dialable returns a listener's address as clients dial it: an unspecified
// IP (a listener on every interface) becomes the loopback address.
func dialable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := tcp.IP
	switch {
	case ip == nil || ip.IsUnspecified() && ip.To4() != nil:
		ip = net.IPv4(127, 0, 0, 1)
	case ip.IsUnspecified():
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}

// hostOf returns the host of host:port, or the whole string without a port.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return strings.Trim(addr, "[]")
	}
	return host
}

// URL returns the plain base URL, such as http://127.0.0.1:4567: HTTP/1.1
// and h2c.
func (s *Server) URL() string { return s.url }

// TLSURL returns the TLS base URL, such as https://127.0.0.1:4568, or "" when
// the server was started without WithTLS.
func (s *Server) TLSURL() string { return s.tlsURL }

// CertificatePEM returns the PEM encoding of the self-signed certificate of
// the TLS address (a client trusts it as a root), or nil without WithTLS.
func (s *Server) CertificatePEM() []byte { return append([]byte(nil), s.certPEM...) }

// CertPool returns a pool holding the certificate of the TLS address, for Go
// clients (tls.Config.RootCAs), or nil without WithTLS.
func (s *Server) CertPool() *x509.CertPool {
	if s.certPEM == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.certPEM)
	return pool
}

// Shutdown stops the server gracefully: it stops accepting connections, ends
// the subscriptions it carries (cleanly: their clients see the stream end
// and may subscribe elsewhere) and waits for the requests in flight to
// finish, then returns nil. When ctx ends first, it closes every connection
// and returns ctx's error. It does not close the fake. Later calls return
// nil at once.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		var wg sync.WaitGroup
		errs := make([]error, len(s.servers))
		for i, srv := range s.servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if errs[i] = srv.Shutdown(ctx); errs[i] != nil {
					srv.Close()
				}
			}()
		}
		wg.Wait()
		s.wg.Wait()
		err = errors.Join(errs...)
	})
	return err
}

// Close stops the server at once, closing every connection. It does not
// close the fake.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
