package main

// The dispatcher: the table of commands, their flags, help and exit codes.
// A command is a name, a synopsis and a function registering its flags on a
// flag.FlagSet and returning what runs it; the dispatcher parses the flags
// (before or after the arguments), prints help and turns errors into exit
// codes, so a command only does its job.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes, documented in the package comment and in kinesin help.
const (
	exitOK      = 0 // success, a dry run, or a stop on a signal
	exitError   = 1 // failure while running
	exitUsage   = 2 // unknown command, bad flag or argument
	exitRefused = 3 // nothing changed: live leases hold the shards, or the operator said no
)

// env is what a command runs with: its output streams and the signals
// (SIGINT, SIGTERM) asking it to stop.
type env struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	signals <-chan os.Signal
	// interactive reports whether standard input and standard error are a
	// terminal: a person may answer a question.
	interactive bool
	// stdoutTTY reports whether standard output is a terminal.
	stdoutTTY bool
}

// runFunc runs a command with the arguments left once the flags are parsed.
type runFunc func(e *env, args []string) error

// command is one subcommand of kinesin.
type command struct {
	name    string // as typed: kinesin <name>
	args    string // synopsis of the arguments after the flags ("STREAM"), "" for none
	summary string // one line, for kinesin help
	doc     string // what kinesin <name> --help prints between the synopsis and the flags
	// setup registers the command's flags on fs and returns the function
	// that runs it once they are parsed.
	setup func(fs *flag.FlagSet) runFunc
}

// commands returns every command, in the order kinesin help lists them.
func commands() []*command {
	return []*command{
		tailCommand(), putCommand(), statusCommand(),
		checkpointsListCommand(), checkpointsSetCommand(), checkpointsResetCommand(),
		leasesListCommand(), leasesReleaseCommand(),
		fakeCommand(), versionCommand(),
	}
}

func findCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usageError is a mistake in the command line; it exits with exitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// refusedError is a change the command did not make: live leases hold
// the shards, or the operator said no. It exits with exitRefused.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// lookup finds the command args start with: a command of two words
// ("checkpoints set") or of one ("tail"). It returns the command and the
// arguments after its name, or nil and the group's name when args name a
// group of commands ("checkpoints") without one of its commands.
func lookup(args []string) (c *command, rest []string, group string) {
	if len(args) >= 2 {
		if c := findCommand(args[0] + " " + args[1]); c != nil {
			return c, args[2:], ""
		}
	}
	if c := findCommand(args[0]); c != nil {
		return c, args[1:], ""
	}
	if len(groupCommands(args[0])) > 0 {
		return nil, args[1:], args[0]
	}
	return nil, nil, ""
}

// groupCommands returns the commands whose name starts with group and a
// space.
func groupCommands(group string) []*command {
	var out []*command
	for _, c := range commands() {
		if strings.HasPrefix(c.name, group+" ") {
			out = append(out, c)
		}
	}
	return out
}

// run runs the command line args (without the program name) and returns the
// exit code.
func run(args []string, e *env) int {
	if len(args) == 0 {
		printMainHelp(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printMainHelp(e.stdout)
		return exitOK
	case "help":
		if len(args) == 1 {
			printMainHelp(e.stdout)
			return exitOK
		}
		c, rest, group := lookup(args[1:])
		switch {
		case c != nil && len(rest) == 0:
			fs := c.flagSet()
			c.setup(fs)
			c.printHelp(e.stdout, fs)
			return exitOK
		case group != "" && len(rest) == 0:
			printGroupHelp(e.stdout, group)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "kinesin help: unknown command %q\nRun 'kinesin help' for the commands.\n", strings.Join(args[1:], " "))
		return exitUsage
	}
	c, rest, group := lookup(args)
	switch {
	case c != nil:
		return c.execute(e, rest)
	case group != "" && len(rest) > 0 && (rest[0] == "-h" || rest[0] == "-help" || rest[0] == "--help"):
		printGroupHelp(e.stdout, group)
		return exitOK
	case group != "":
		what := "a command is missing"
		if len(rest) > 0 {
			what = fmt.Sprintf("unknown command %q", rest[0])
		}
		fmt.Fprintf(e.stderr, "kinesin %s: %s: want %s\nRun 'kinesin help %s' for the commands.\n", group, what, groupNames(group), group)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "kinesin: unknown command %q\nRun 'kinesin help' for the commands.\n", args[0])
	return exitUsage
}

// groupNames lists the commands of group, for messages: "list, set or reset".
func groupNames(group string) string {
	var names []string
	for _, c := range groupCommands(group) {
		names = append(names, strings.TrimPrefix(c.name, group+" "))
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func printGroupHelp(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage: kinesin %s <command> [flags] [arguments]\n\nCommands:\n", group)
	for _, c := range groupCommands(group) {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'kinesin %s <command> --help' for a command's flags.\n", group)
}

// flagSet returns a new flag set for c, reporting errors to its caller
// rather than printing them.
func (c *command) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("kinesin "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// execute parses c's flags and arguments, runs it and returns the exit code.
func (c *command) execute(e *env, args []string) int {
	fs := c.flagSet()
	runner := c.setup(fs)
	rest, err := parseFlags(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.printHelp(e.stdout, fs)
		return exitOK
	case err != nil:
		err = &usageError{msg: doubleDash.Replace(err.Error())}
	default:
		err = runner(e, rest)
	}
	if err == nil {
		return exitOK
	}
	if ue := (*usageError)(nil); errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "kinesin %s: %s\nRun 'kinesin %s --help' for usage.\n", c.name, ue.msg, c.name)
		return exitUsage
	}
	if re := (*refusedError)(nil); errors.As(err, &re) {
		fmt.Fprintf(e.stderr, "kinesin %s: %v\n", c.name, err)
		return exitRefused
	}
	fmt.Fprintf(e.stderr, "kinesin %s: %v\n", c.name, err)
	return exitError
}

// doubleDash rewrites the flag package's messages ("flag provided but not
// defined: -x") to name flags as this command documents them (--x).
var doubleDash = strings.NewReplacer("defined: -", "defined: --", "flag -", "flag --",
	"argument: -", "argument: --", "for -", "for --")

// parseFlags parses args with fs, letting flags come after arguments too
// (kinesin tail STREAM --from latest); "--" ends the flags. It returns the
// arguments in order.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, nil
		}
		if used := len(args) - len(left); used > 0 && args[used-1] == "--" {
			return append(rest, left...), nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

func printMainHelp(w io.Writer) {
	fmt.Fprint(w, `kinesin: the command-line companion of the kinesin library.

Usage:
  kinesin <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'kinesin help <command>' or 'kinesin <command> --help' for a command's flags.
Exit codes: 0 success (also a dry run, and a stop on SIGINT or SIGTERM),
1 failure while running (an AWS or store error, an endpoint that does not
answer), 2 usage error (unknown command, bad flag or argument), 3 refused:
nothing changed (live leases hold the shards, or the answer was no).

The commands that call AWS read its configuration as the AWS CLI does
(environment, shared files, --profile NAME, --region); --endpoint URL points
them at an emulator such as kinesin fake (whose own --profile picks its
timings).
`)
}

// printHelp prints c's synopsis, its doc and the flags registered on fs.
func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	synopsis := "kinesin " + c.name
	if hasFlags(fs) {
		synopsis += " [flags]"
	}
	if c.args != "" {
		synopsis += " " + c.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, strings.TrimSpace(c.doc))
	if !hasFlags(fs) {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		if isBoolFlag(f) {
			name = ""
		}
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n        %s", line, strings.ReplaceAll(usage, "\n", "\n        "))
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
