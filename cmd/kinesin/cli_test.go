package main

import (
	"flag"
	"slices"
	"strings"
	"testing"
)

// Every usage mistake exits 2 with a message naming it and, for a command,
// a pointer at its --help; nothing is served.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // in stderr
	}{
		{nil, []string{"Usage:", "kinesin <command>", "fake"}},
		{[]string{"serve"}, []string{`kinesin: unknown command "serve"`, "Run 'kinesin help'"}},
		{[]string{"help", "serve"}, []string{`kinesin help: unknown command "serve"`}},
		{[]string{"fake", "--bogus"}, []string{"kinesin fake: flag provided but not defined: --bogus", "Run 'kinesin fake --help' for usage."}},
		{[]string{"fake", "--addr"}, []string{"flag needs an argument: --addr"}},
		{[]string{"fake", "--create", "orders"}, []string{`invalid value "orders" for flag --create: want STREAM:SHARDS`}},
		{[]string{"fake", "--create", "orders:0"}, []string{`shard count "0" is not a positive number`}},
		{[]string{"fake", "--create", "orders:1", "--create", "orders:2"}, []string{`stream "orders" is given twice`}},
		{[]string{"fake", "--create", "no spaces:1"}, []string{"--create no spaces:1:", "ValidationException"}},
		{[]string{"fake", "--profile", "slow"}, []string{`invalid value "slow" for flag --profile: want fast or realistic`}},
		{[]string{"fake", "--clock", "fast"}, []string{`invalid value "fast" for flag --clock: want real, manual, or a speed-up such as 60x`}},
		{[]string{"fake", "--max-stored-bytes", "lots"}, []string{"want a positive size"}},
		{[]string{"fake", "--region", "us east"}, []string{"kinesin fake: --region:", `"us east" is not a region name`}},
		{[]string{"fake", "--account", "42"}, []string{"kinesin fake: --account:", "12 digits"}},
		{[]string{"fake", "--shutdown-timeout", "0s"}, []string{"--shutdown-timeout 0s is not positive"}},
		{[]string{"fake", "extra"}, []string{`unexpected argument "extra": fake takes flags only`}},
		{[]string{"version", "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"tail"}, []string{"kinesin tail: the stream name is missing", "Run 'kinesin tail --help'"}},
		{[]string{"tail", "a", "b"}, []string{`unexpected argument "b" after the stream name`}},
		{[]string{"tail", "s", "--from", "yesterday"}, []string{`--from "yesterday": want latest, trim-horizon, or a time in RFC 3339`}},
		{[]string{"tail", "s", "--format", "xml"}, []string{`invalid value "xml" for flag --format: want text or json or raw`}},
		{[]string{"tail", "s", "--endpoint", "localhost:4567"}, []string{`--endpoint "localhost:4567": want a URL`}},
		{[]string{"put", "s", "--retry-time", "0s"}, []string{"--retry-time 0s is not positive"}},
		{[]string{"status", "s"}, []string{"kinesin status: --app is required"}},
		{[]string{"status", "s", "--app", "a"}, []string{"one of --store URL (checkpoints) or --leases URL (leases) is required"}},
		{[]string{"status", "s", "--app", "a", "--store", "mysql://t"}, []string{`invalid value "mysql://t" for flag --store: unknown store "mysql://": want dynamodb://TABLE or redis://HOST:PORT[/DB]`}},
		{[]string{"status", "s", "--app", "a", "--store", "orders-table"}, []string{`invalid value "orders-table" for flag --store: want dynamodb://TABLE or redis://`}},
		{[]string{"status", "s", "--app", "a", "--store", "dynamodb://t/x"}, []string{"want dynamodb://TABLE, a table name and nothing else"}},
		{[]string{"status", "s", "--app", "a", "--store", "redis://h:1/x"}, []string{"want redis://HOST:PORT[/DB][?prefix=P]"}},
		{[]string{"status", "s", "--app", "a", "--leases", "redis://h:1"}, []string{"leases are kept in DynamoDB only"}},
		{[]string{"status", "s", "--app", "a", "--store", "dynamodb://t", "--leases", "dynamodb://l"}, []string{"--store and --leases both given"}},
		{[]string{"status", "s", "--app", "a", "--store", "dynamodb://t", "--interval", "0s"}, []string{"--interval and --lease-duration must be positive"}},
		{[]string{"checkpoints"}, []string{"kinesin checkpoints: a command is missing: want list, set or reset", "Run 'kinesin help checkpoints'"}},
		{[]string{"checkpoints", "move"}, []string{`kinesin checkpoints: unknown command "move": want list, set or reset`}},
		{[]string{"checkpoints", "set", "s", "--app", "a", "--store", "dynamodb://t"}, []string{"--to is required"}},
		{[]string{"checkpoints", "set", "s", "--app", "a", "--store", "dynamodb://t", "--to", "soon"}, []string{`--to "soon": want trim-horizon, latest, SEQ`}},
		{[]string{"checkpoints", "set", "s", "--app", "a", "--store", "dynamodb://t", "--to", "latest", "--yes", "--dry-run"}, []string{"--yes and --dry-run contradict each other"}},
		{[]string{"checkpoints", "reset", "s", "--app", "a", "--store", "dynamodb://t", "--to", "latest"}, []string{"flag provided but not defined: --to"}},
		{[]string{"checkpoints", "set", "s", "--app", "a", "--store", "dynamodb://t", "--to", "latest", "--shards", ","}, []string{"want shard ids separated by commas"}},
		{[]string{"leases"}, []string{"want list or release"}},
		{[]string{"leases", "list", "s", "--app", "a", "--store", "dynamodb://t"}, []string{"--leases dynamodb://TABLE is required"}},
		{[]string{"leases", "release", "s", "--leases", "dynamodb://t"}, []string{"--app is required"}},
		{[]string{"help", "checkpoints", "move"}, []string{`kinesin help: unknown command "checkpoints move"`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runOnce(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not say %q", stderr, w)
				}
			}
		})
	}
}

// Help goes to standard output with exit code 0: the commands, a command's
// flags with their defaults, and the exit codes.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"fake ", "version ", "Exit codes: 0 success", "2 usage error"}},
		{[]string{"--help"}, []string{"Commands:"}},
		{[]string{"help", "fake"}, []string{"Usage: kinesin fake [flags]", "--create STREAM:SHARDS", "(default 127.0.0.1:4567)", "/_kinesistest/"}},
		{[]string{"fake", "--help"}, []string{"Usage: kinesin fake [flags]", "--profile PROFILE", "--tls\n", "--max-stored-bytes SIZE", "(default 1GiB)"}},
		{[]string{"fake", "-h"}, []string{"Usage: kinesin fake [flags]"}},
		{[]string{"version"}, []string{"kinesin ", "library ", "go1."}},
		{[]string{"help"}, []string{"tail ", "put ", "status ", "checkpoints set ", "leases release ", "3 refused"}},
		{[]string{"checkpoints", "--help"}, []string{"Usage: kinesin checkpoints <command>", "checkpoints list ", "checkpoints reset "}},
		{[]string{"help", "leases"}, []string{"leases list ", "leases release "}},
		{[]string{"help", "checkpoints", "set"}, []string{"Usage: kinesin checkpoints set [flags] STREAM", "--to POSITION", "--profile NAME", "Not kinesin fake's --profile", "--lease-duration DURATION", "(default 10s)"}},
		{[]string{"checkpoints", "reset", "-h"}, []string{"Usage: kinesin checkpoints reset [flags] STREAM", "--yes", "--dry-run", "--force"}},
		{[]string{"status", "--help"}, []string{"Usage: kinesin status [flags] STREAM", "--watch", "--json", "--store URL", "--leases URL", "--dynamodb-endpoint URL", "--region REGION"}},
		{[]string{"tail", "--help"}, []string{"--from TIME", "--efo NAME", "--format FORMAT", "(default text)", "KPL"}},
		{[]string{"put", "--help"}, []string{"--partition-key KEY", "one record"}},
		{[]string{"leases", "list", "--help"}, []string{"--observe DURATION"}},
		{[]string{"leases", "release", "--help"}, []string{"--owner ID", "--shards IDS"}},
		{[]string{"fake", "--help"}, []string{"not an AWS profile"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runOnce(t, tc.args...)
			if code != exitOK || stderr != "" {
				t.Errorf("exit code %d, stderr %q; want 0 and nothing", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout does not say %q:\n%s", w, stdout)
				}
			}
		})
	}
}

// Flags may come after arguments; "--" ends them.
func TestParseFlagsInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantArgs []string
		wantFrom string
	}{
		{[]string{"orders", "--from", "latest"}, []string{"orders"}, "latest"},
		{[]string{"--from", "latest", "orders", "more"}, []string{"orders", "more"}, "latest"},
		{[]string{"a", "--from=x", "b"}, []string{"a", "b"}, "x"},
		{[]string{"a", "--", "--from", "b"}, []string{"a", "--from", "b"}, ""},
		{[]string{"-", "--from", "y"}, []string{"-"}, "y"},
		{nil, nil, ""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		from := fs.String("from", "", "")
		got, err := parseFlags(fs, tc.args)
		if err != nil || !slices.Equal(got, tc.wantArgs) || *from != tc.wantFrom {
			t.Errorf("parseFlags(%q) = %q, --from %q, %v; want %q, %q", tc.args, got, *from, err, tc.wantArgs, tc.wantFrom)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1": 1, "1048576": 1 << 20, "1KiB": 1 << 10, "512MiB": 512 << 20, "1GiB": 1 << 30, "2TiB": 2 << 40,
		"5KB": 5000, "3MB": 3e6, "1GB": 1e9, "7B": 7,
	} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1.5GiB", "1XB", "GiB", "9223372036854775807KiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d, want an error", in, b)
		}
	}
	for _, tc := range []struct {
		n    int64
		want string
	}{{1 << 30, "1GiB"}, {3 << 10, "3KiB"}, {1536, "1536"}, {1000, "1000"}} {
		if got := (*byteSize)(&tc.n).String(); got != tc.want {
			t.Errorf("String(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestClockFlag(t *testing.T) {
	for in, want := range map[string]string{"real": "real", "manual": "manual", "60x": "60x", "0.5x": "0.5x"} {
		var c clockFlag
		if err := c.Set(in); err != nil || c.String() != want {
			t.Errorf("Set(%q): %q, %v; want %q", in, c.String(), err, want)
		}
	}
	for _, in := range []string{"", "fast", "0x", "-2x", "x", "+Infx"} {
		var c clockFlag
		if err := c.Set(in); err == nil {
			t.Errorf("Set(%q) = %v, want an error", in, c)
		}
	}
}

// The TLS address defaults to the host of --addr and the next port, or a
// free port when --addr's is 0.
func TestTLSAddress(t *testing.T) {
	for _, tc := range []struct{ addr, tlsAddr, want string }{
		{"127.0.0.1:4567", "", "127.0.0.1:4568"},
		{"0.0.0.0:9000", "", "0.0.0.0:9001"},
		{"127.0.0.1:0", "", "127.0.0.1:0"},
		{"[::1]:4567", "", "[::1]:4568"},
		{"localhost:65535", "", "localhost:0"},
		{"127.0.0.1:4567", "127.0.0.1:9443", "127.0.0.1:9443"},
	} {
		o := fakeFlags{addr: tc.addr, tlsAddr: tc.tlsAddr}
		if got := o.tlsAddress(); got != tc.want {
			t.Errorf("addr %q, tls-addr %q: %q, want %q", tc.addr, tc.tlsAddr, got, tc.want)
		}
	}
}
