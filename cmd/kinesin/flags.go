package main

// Flag values that check what they are given: a bad value is refused by the
// flag package with the message of Set, a usage error.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// choiceFlag is a string flag taking one of a fixed set of values.
type choiceFlag struct {
	value   string
	choices []string
}

func (c *choiceFlag) String() string { return c.value }

func (c *choiceFlag) Set(v string) error {
	if !slices.Contains(c.choices, v) {
		return fmt.Errorf("want %s", strings.Join(c.choices, " or "))
	}
	c.value = v
	return nil
}

// streamSpec is one --create STREAM:SHARDS.
type streamSpec struct {
	name   string
	shards int
}

// streamList is a repeatable --create STREAM:SHARDS.
type streamList []streamSpec

func (l *streamList) String() string {
	parts := make([]string, len(*l))
	for i, s := range *l {
		parts[i] = fmt.Sprintf("%s:%d", s.name, s.shards)
	}
	return strings.Join(parts, ",")
}

func (l *streamList) Set(v string) error {
	name, count, ok := strings.Cut(v, ":")
	if !ok || name == "" {
		return fmt.Errorf("want STREAM:SHARDS, such as orders:4")
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return fmt.Errorf("shard count %q is not a positive number", count)
	}
	for _, s := range *l {
		if s.name == name {
			return fmt.Errorf("stream %q is given twice", name)
		}
	}
	*l = append(*l, streamSpec{name, n})
	return nil
}

// byteSize is a size in bytes, written as a number with an optional unit:
// B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000).
type byteSize int64

var byteUnits = map[string]int64{
	"": 1, "B": 1,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []string{"TiB", "GiB", "MiB", "KiB"} {
		if n >= byteUnits[u] && n%byteUnits[u] == 0 {
			return fmt.Sprintf("%d%s", n/byteUnits[u], u)
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(v string) error {
	i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(v)
	}
	unit, ok := byteUnits[strings.TrimSpace(v[i:])]
	n, err := strconv.ParseInt(v[:i], 10, 64)
	if !ok || err != nil || n < 1 || n > math.MaxInt64/unit {
		return fmt.Errorf("want a positive size such as 1GiB, 512MiB or 1048576")
	}
	*b = byteSize(n * unit)
	return nil
}

// clockFlag chooses the fake's clock: real, manual (moved through the
// control API's clock/advance) or Nx, N times faster than the wall clock.
type clockFlag struct {
	kind   string // "real", "manual" or "scaled"
	factor float64
}

func (c *clockFlag) String() string {
	if c.kind == "scaled" {
		return strconv.FormatFloat(c.factor, 'g', -1, 64) + "x"
	}
	return c.kind
}

func (c *clockFlag) Set(v string) error {
	switch {
	case v == "real" || v == "manual":
		*c = clockFlag{kind: v}
		return nil
	case strings.HasSuffix(v, "x"):
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "x"), 64)
		if err == nil && f > 0 && !math.IsInf(f, 0) {
			*c = clockFlag{kind: "scaled", factor: f}
			return nil
		}
	}
	return fmt.Errorf("want real, manual, or a speed-up such as 60x")
}

// clock returns the clock chosen.
func (c *clockFlag) clock(now time.Time) kinesistest.Clock {
	switch c.kind {
	case "manual":
		return kinesistest.NewManualClock(now)
	case "scaled":
		return kinesistest.ScaledClock(c.factor)
	}
	return kinesistest.RealClock()
}
