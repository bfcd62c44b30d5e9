package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	os.Exit(run(os.Args[1:], &env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, signals: signals,
		interactive: isTerminal(os.Stdin) && isTerminal(os.Stderr),
		stdoutTTY:   isTerminal(os.Stdout),
	}))
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
