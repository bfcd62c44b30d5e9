// Command bench runs the bench module's scenarios (package bench, whose
// documentation gives the usage); bench/run builds and runs it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/kinesin-go/kinesin/bench"
)

func main() {
	if err := bench.Main(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
