package wire

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestDecodeBase64MatchesStandard: decodeBase64 decodes what encoding/base64
// decodes to the same bytes, writes nothing past DecodedLen, and fails where
// it fails with the same error (the offset counted from the start), for
// every length around the vector decoder's blocks and a bad byte at every
// position.
func TestDecodeBase64MatchesStandard(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	check := func(name string, src []byte) {
		t.Helper()
		want := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
		wn, werr := base64.StdEncoding.Decode(want, src)
		const guard = 64
		buf := bytes.Repeat([]byte{0xA5}, len(want)+guard)
		got := buf[:len(want)]
		gn, gerr := decodeBase64(got, src)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("%s: error %v, encoding/base64 says %v", name, gerr, werr)
		}
		if werr == nil && (gn != wn || !bytes.Equal(got[:gn], want[:wn])) {
			t.Fatalf("%s: decoded %d bytes %x, encoding/base64 %d bytes %x", name, gn, got[:gn], wn, want[:wn])
		}
		if !bytes.Equal(buf[len(want):], bytes.Repeat([]byte{0xA5}, guard)) {
			t.Fatalf("%s: wrote past DecodedLen", name)
		}
	}
	for n := range 400 {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rnd.Uint32())
		}
		src := []byte(base64.StdEncoding.EncodeToString(data))
		check(fmt.Sprintf("%d bytes", n), src)
		if n%7 != 3 || len(src) == 0 {
			continue
		}
		for i := range src {
			for _, bad := range []byte{'@', '-', '_', '=', 0x80, ' '} {
				b := bytes.Clone(src)
				b[i] = bad
				check(fmt.Sprintf("%d bytes, %q at %d", n, bad, i), b)
			}
			// Newlines are skipped anywhere.
			nl := append(append(bytes.Clone(src[:i]), '\r', '\n'), src[i:]...)
			check(fmt.Sprintf("%d bytes, a newline at %d", n, i), nl)
		}
	}
}

// TestParseDecimalMatchesParseFloat: where parseDecimal takes a number, it
// returns strconv.ParseFloat's value bit for bit; it leaves the others to
// ParseFloat.
func TestParseDecimalMatchesParseFloat(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	taken := 0
	for range 200_000 {
		digits := 1 + rnd.IntN(18)
		var b []byte
		if rnd.IntN(4) == 0 {
			b = append(b, '-')
		}
		intDigits := 1 + rnd.IntN(digits)
		for i := range digits {
			if i == intDigits {
				b = append(b, '.')
			}
			c := byte('0' + rnd.IntN(10))
			if i == 0 && intDigits > 1 && c == '0' {
				c = '1' // JSON has no leading zeros
			}
			b = append(b, c)
		}
		want, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		got, ok := parseDecimal(b)
		if !ok {
			continue
		}
		taken++
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%s: %v (%#x), ParseFloat %v (%#x)", b, got, math.Float64bits(got), want, math.Float64bits(want))
		}
	}
	if taken < 50_000 {
		t.Fatalf("parseDecimal took only %d numbers", taken)
	}
	for _, s := range []string{"1", "-1", "1.5e3", "1E3", "1234567890123456.5", "0.1234567890123456", "1.", "."} {
		if _, ok := parseDecimal([]byte(s)); ok {
			t.Errorf("parseDecimal took %q", s)
		}
	}
}
