package main

// kinesin version: the versions this binary was built from.

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

const libraryPath = "github.com/kinesin-go/kinesin"

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "print the versions of the command, of the kinesin library it was built with, and of Go",
		doc: `
Prints one line: the command's module version ("(devel)" when built from a
checkout), the kinesin library's, and the Go version it was built with.`,
		setup: func(*flag.FlagSet) runFunc {
			return func(e *env, args []string) error {
				if len(args) > 0 {
					return usagef("unexpected argument %q: version takes none", args[0])
				}
				cmd, lib := "(unknown)", "(unknown)"
				if info, ok := debug.ReadBuildInfo(); ok {
					cmd = info.Main.Version
					for _, d := range info.Deps {
						if d.Path == libraryPath {
							lib = d.Version
						}
					}
				}
				fmt.Fprintf(e.stdout, "kinesin %s (library %s, %s)\n", cmd, lib, runtime.Version())
				return nil
			}
		},
	}
}
