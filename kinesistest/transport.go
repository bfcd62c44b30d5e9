package kinesistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
)

// transport is an http.RoundTripper that serves requests with the fake's
// handler in process. Responses that the handler flushes (SubscribeToShard)
// stream through a pipe; closing their body cancels the handler's context, as
// closing a connection does. A write to the pipe waits for the client to read
// it, but no longer than the fake lives: Close breaks every pipe, as the
// loopback server drops its connections.
type transport struct{ fake *Fake }

// errClosed is returned for requests made after Close.
var errClosed = errors.New("kinesistest: the fake is closed")

// connReset is what a dropped connection looks like to the client; the SDK
// retries it like a real connection reset.
var connReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	f := t.fake
	if !f.enter() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errClosed
	}
	ctx, cancel := context.WithCancel(req.Context())
	sreq := req.Clone(ctx)
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "127.0.0.1:1"
	w := &pipeWriter{header: make(http.Header), ready: make(chan struct{}), cancel: cancel, closed: f.closed}
	go func() {
		defer f.wg.Done()
		defer cancel()
		defer w.finish()
		defer func() {
			if p := recover(); p != nil {
				w.recovered(p)
			}
		}()
		f.serveHTTP(w, sreq)
		sreq.Body.Close()
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		cancel()
		return nil, req.Context().Err()
	}
	if w.dropped {
		return nil, connReset
	}
	return &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          w.body,
		ContentLength: w.length,
		Request:       req,
	}, nil
}

// enter registers a request in flight unless the fake is closed.
func (f *Fake) enter() bool {
	f.lifeMu.Lock()
	defer f.lifeMu.Unlock()
	if f.closing {
		return false
	}
	f.wg.Add(1)
	return true
}

// pipeWriter is the http.ResponseWriter of the in-process transport. It
// buffers the response until the handler returns, or until it flushes, from
// when on it streams.
type pipeWriter struct {
	header      http.Header
	status      int
	wroteHeader bool
	buf         bytes.Buffer
	pw          *io.PipeWriter // set once streaming
	ready       chan struct{}  // closed when the response can be read
	readyOnce   sync.Once
	cancel      context.CancelFunc
	closed      <-chan struct{} // the fake's: a streaming write gives up when it closes
	served      chan struct{}   // closed by finish once streaming: stops the watch on closed

	// release gives back the buffer of an owned body (writeOwned), once
	// the client has closed it.
	release func()

	// set before ready is closed, read after
	sent    http.Header
	body    io.ReadCloser
	length  int64
	dropped bool
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.status = code
	w.sent = w.header.Clone()
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.pw != nil {
		return w.pw.Write(p)
	}
	if w.buf.Len() == 0 && len(p) > 512 {
		w.buf.Grow(len(p)) // one allocation for a body written at once
	}
	return w.buf.Write(p)
}

// writeOwned writes a body the caller hands over and never touches again: a
// response not yet started keeps it as its buffer instead of copying it,
// and calls release once the client closed the body (or never, if the
// client does not close it); otherwise release is called once p is copied.
func (w *pipeWriter) writeOwned(p []byte, release func()) {
	if w.pw == nil && w.buf.Len() == 0 && w.release == nil {
		if !w.wroteHeader {
			w.WriteHeader(http.StatusOK)
		}
		w.buf = *bytes.NewBuffer(p)
		w.release = release
		return
	}
	w.Write(p)
	release()
}

// Flush switches the response to streaming and hands it to the client.
//
// From then on a Write blocks until the client reads what it writes. Should
// the fake close first, the pipe breaks: the blocked Write (and every later
// one) fails, and the client reads a connection reset. So a handler writing
// to a client that stopped reading still notices Close.
func (w *pipeWriter) Flush() {
	if w.pw != nil || w.dropped {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	pr, pw := io.Pipe()
	w.pw = pw
	w.body = &streamBody{Reader: io.MultiReader(bytes.NewReader(w.buf.Bytes()), pr), pr: pr, cancel: w.cancel}
	w.length = -1
	if w.closed != nil {
		served := make(chan struct{})
		w.served = served
		go func() {
			select {
			case <-w.closed:
				pw.CloseWithError(connReset)
			case <-served:
			}
		}()
	}
	w.readyOnce.Do(func() { close(w.ready) })
}

// drop ends the exchange as a reset connection.
func (w *pipeWriter) drop() {
	if w.pw != nil {
		w.pw.CloseWithError(connReset)
		return
	}
	w.dropped = true
	w.readyOnce.Do(func() { close(w.ready) })
}

func (w *pipeWriter) recovered(p any) {
	if p == http.ErrAbortHandler {
		w.drop()
		return
	}
	if w.pw != nil || w.wroteHeader {
		w.drop()
		return
	}
	writeError(w, errorf(CodeInternalFailure, "kinesistest: internal error: %v", fmt.Sprint(p)))
}

// finish completes the response when the handler returns.
func (w *pipeWriter) finish() {
	if w.pw != nil {
		if w.served != nil {
			close(w.served)
		}
		w.pw.Close()
		return
	}
	if w.dropped {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.release != nil {
		w.body = &ownedBody{r: bytes.NewReader(w.buf.Bytes()), release: w.release}
	} else {
		w.body = io.NopCloser(bytes.NewReader(w.buf.Bytes()))
	}
	w.length = int64(w.buf.Len())
	w.readyOnce.Do(func() { close(w.ready) })
}

// ownedBody is a buffered response body whose buffer is reused once the
// client closes it.
type ownedBody struct {
	mu      sync.Mutex
	r       *bytes.Reader
	release func() // nil once called
}

func (b *ownedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.release == nil {
		// Closed: the buffer may serve another response by now.
		return 0, errors.New("kinesistest: read of a closed response body")
	}
	return b.r.Read(p)
}

func (b *ownedBody) Close() error {
	b.mu.Lock()
	release := b.release
	b.release, b.r = nil, nil
	b.mu.Unlock()
	if release != nil {
		release()
	}
	return nil
}

// streamBody is a streaming response body; closing it cancels the handler.
type streamBody struct {
	io.Reader
	pr     *io.PipeReader
	cancel context.CancelFunc
}

func (b *streamBody) Close() error {
	b.cancel()
	return b.pr.CloseWithError(errors.New("kinesistest: response body closed"))
}
