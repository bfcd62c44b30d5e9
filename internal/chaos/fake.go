package chaos

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// RunFake is the fake subcommand: it serves a kinesistest.Fake and its
// control API on one loopback HTTP listener, prints "listening <URL>" on
// standard output once it accepts connections, and serves until SIGTERM,
// SIGINT or the end of its standard input (its parent died).
//
// Flags: -listen (default 127.0.0.1:0), -clock-factor (the fake's clock runs
// this many times faster than the wall clock; default 1), -seed (of the
// probabilistic faults; default 1).
func RunFake(args []string) error {
	fs := flag.NewFlagSet("fake", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	factor := fs.Float64("clock-factor", 1, "the fake's clock runs this many times faster than the wall clock")
	seed := fs.Uint64("seed", 1, "seed of the probabilistic faults")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := []kinesistest.Option{kinesistest.WithSeed(*seed)}
	if *factor != 1 {
		opts = append(opts, kinesistest.WithClock(kinesistest.ScaledClock(*factor)))
	}
	fake := kinesistest.New(nil, opts...)
	defer fake.Close()
	mux := http.NewServeMux()
	mux.Handle("/", fake.Handler())
	mux.Handle(kinesistest.ControlPrefix, kinesistest.NewControl(fake))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("listening http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case <-ctx.Done():
	case <-parentGone():
	case err := <-served:
		return err
	}
	fake.Close() // ends the subscriptions, so that Shutdown need not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	srv.Close()
	return nil
}

// parentGone returns a channel closed when standard input ends: the parent
// that holds its other end exited (or closed it).
func parentGone() <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(gone)
	}()
	return gone
}
