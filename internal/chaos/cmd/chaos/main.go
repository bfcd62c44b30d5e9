// Command chaos runs the roles of the lease soak of package chaos (see
// there): the fake, the producer, a worker, the whole soak, or the checker.
//
//	chaos fake     [-listen 127.0.0.1:0] [-clock-factor 1] [-seed 1]
//	chaos producer -kinesis URL -log FILE [-stream orders] [-keys 32] [-rate 100]
//	chaos worker   -kinesis URL -dynamodb URL -table T -name W -log FILE [-mode polling|efo] ...
//	chaos soak     -dynamodb URL [-mode polling|efo] [-seed 1] [-duration 1m] [-dir DIR] ...
//	chaos check    DIR
//
// soak runs this same program for every role, and prints the report; it
// exits with status 1 when a check failed, 2 when the harness failed.
// check prints the report of the logs of an earlier soak in DIR.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kinesin-go/kinesin/internal/chaos"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: chaos fake|producer|worker|soak|check [flags]")
		os.Exit(2)
	}
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "fake":
		err = chaos.RunFake(args)
	case "producer":
		err = chaos.RunProducer(args)
	case "worker":
		err = chaos.RunWorker(args, func() { os.Exit(3) })
	case "soak":
		os.Exit(soak(args))
	case "check":
		os.Exit(check(args))
	default:
		err = fmt.Errorf("unknown subcommand %q: want fake, producer, worker, soak or check", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

func soak(args []string) int {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	var cfg chaos.Config
	fs.StringVar(&cfg.DynamoURL, "dynamodb", os.Getenv("KINESIN_DYNALITE_URL"), "DynamoDB endpoint (dynalite) for the lease table")
	fs.StringVar(&cfg.Mode, "mode", "polling", "polling or efo")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the driver's choices")
	fs.DurationVar(&cfg.Duration, "duration", time.Minute, "how long the chaos lasts")
	fs.StringVar(&cfg.Dir, "dir", "", "directory for the logs (default: a new temporary one)")
	fs.IntVar(&cfg.Workers, "workers", 4, "worker processes")
	fs.DurationVar(&cfg.LeaseDuration, "lease-duration", 2*time.Second, "the workers' lease duration")
	fs.DurationVar(&cfg.CycleInterval, "cycle", 200*time.Millisecond, "the workers' lease cycle")
	fs.DurationVar(&cfg.FailoverSlack, "failover-slack", 500*time.Millisecond, "failover time allowed beyond lease duration + cycle")
	fs.IntVar(&cfg.Rate, "rate", 100, "records a second")
	fs.Parse(args)
	bin, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos soak:", err)
		return 2
	}
	cfg.Bin = bin
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "chaos-"); err != nil {
			fmt.Fprintln(os.Stderr, "chaos soak:", err)
			return 2
		}
	}
	cfg.Logf = func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := chaos.Soak(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos soak: the harness failed: %v (logs in %s)\n", err, cfg.Dir)
		return 2
	}
	fmt.Print(rep)
	fmt.Printf("logs in %s\n", cfg.Dir)
	if rep.Failed() {
		return 1
	}
	return 0
}

func check(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: chaos check DIR")
		return 2
	}
	rep, err := chaos.Check(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos check:", err)
		return 2
	}
	fmt.Print(rep)
	if rep.Failed() {
		return 1
	}
	return 0
}
