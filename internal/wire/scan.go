package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is the deepest nesting of objects and arrays accepted, the top
// object included: the SDK's JSON parser refuses deeper documents.
const maxDepth = 10_000

// scanner walks a JSON document and checks its grammar as strictly as the
// SDK's JSON parser does: strings with control characters or bad escapes,
// numbers with leading zeros, missing or extra commas and colons are errors.
// Like the SDK's parser it does not check that strings are valid UTF-8, and
// it does not look past the end of the top-level value.
type scanner struct {
	b     []byte
	i     int
	depth int
	// stack holds, for skipValue, whether each open container is an object.
	stack []bool
	// tmp receives unquoted keys and short strings that are compared, not
	// kept.
	tmp []byte
}

// span is where a JSON string's content (between its quotes) lies in the
// document, and whether it holds escapes.
type span struct {
	off, end int32
	esc      bool
	set      bool
}

func (s span) len() int { return int(s.end - s.off) }

func (p *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrMalformed, fmt.Sprintf(format, args...), p.i)
}

// errEnd is the error for a document that ends early.
func (p *scanner) errEnd() error {
	return fmt.Errorf("%w: unexpected end of JSON input at offset %d", ErrMalformed, p.i)
}

// ws skips whitespace and reports whether a byte follows.
func (p *scanner) ws() bool {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return true
		}
	}
	return false
}

// peek skips whitespace and returns the next byte, or an error at the end.
func (p *scanner) peek() (byte, error) {
	if p.i < len(p.b) && p.b[p.i] > ' ' {
		return p.b[p.i], nil // no whitespace: the service sends none
	}
	return p.peekSlow()
}

func (p *scanner) peekSlow() (byte, error) {
	if !p.ws() {
		return 0, p.errEnd()
	}
	return p.b[p.i], nil
}

// expect skips whitespace and consumes c.
func (p *scanner) expect(c byte) error {
	got, err := p.peek()
	if err != nil {
		return err
	}
	if got != c {
		return p.errorf("expected %q, found %q", c, got)
	}
	p.i++
	return nil
}

// open counts one more open object or array.
func (p *scanner) open() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf("nesting deeper than %d", maxDepth)
	}
	return nil
}

// null consumes the literal null if it is next (after whitespace), and
// reports whether it was. A token starting with n that is not null is an
// error.
func (p *scanner) null() (bool, error) {
	c, err := p.peek()
	if err != nil || c != 'n' {
		return false, err
	}
	return true, p.literal("null")
}

// literal consumes lit, which must be next.
func (p *scanner) literal(lit string) error {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return p.errorf("invalid literal")
	}
	p.i += len(lit)
	return nil
}

// Masks for looking at 8 bytes at once.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specials returns a mask with the high bit set in each byte of v (8 bytes
// of a string, the first in the low byte) that is a quote, a backslash or
// below 0x20 (a control character). Bytes after the first such byte may be
// flagged wrongly (borrows), never bytes before it, so the lowest bit set
// marks the first special byte exactly.
func specials(v uint64) uint64 {
	quote := v ^ (ones * '"')
	slash := v ^ (ones * '\\')
	return ((quote-ones)&^quote | (slash-ones)&^slash | (v-ones*0x20)&^v) & highs
}

// str consumes the string that starts after whitespace and returns the span
// of its content. Anything else is an error.
func (p *scanner) str() (span, error) {
	if err := p.quote(); err != nil {
		return span{}, err
	}
	return p.strAt()
}

// quote skips whitespace and checks that a string starts there.
func (p *scanner) quote() error {
	c, err := p.peek()
	if err != nil {
		return err
	}
	if c != '"' {
		return p.errorf("expected a string, found %q", c)
	}
	return nil
}

// blobStr consumes the string that starts after whitespace, as str does, for
// a string the caller decodes as base64 afterwards (a record's Data): the
// base64 decoder refuses every control character but CR and LF (which it
// would skip) and every byte outside ASCII, so only the closing quote,
// escapes, CR and LF need looking for here, which bytes.IndexByte does at
// vector speed. A string with any of those is left to strAt.
func (p *scanner) blobStr() (span, error) {
	if err := p.quote(); err != nil {
		return span{}, err
	}
	start := p.i + 1
	if q := bytes.IndexByte(p.b[start:], '"'); q >= 0 {
		s := p.b[start : start+q]
		if bytes.IndexByte(s, '\\') < 0 && bytes.IndexByte(s, '\n') < 0 && bytes.IndexByte(s, '\r') < 0 {
			p.i = start + q + 1
			return span{off: int32(start), end: int32(start + q), set: true}, nil
		}
	}
	return p.strAt()
}

// strAt consumes the string whose opening quote is at p.i.
func (p *scanner) strAt() (span, error) {
	start := p.i + 1
	i := start
	b := p.b
	esc := false
	for {
		for i+8 <= len(b) {
			if m := specials(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			p.i = i
			return span{}, p.errorf("unterminated string starting at offset %d", start-1)
		}
		switch c := b[i]; {
		case c == '"':
			p.i = i + 1
			return span{off: int32(start), end: int32(i), esc: esc, set: true}, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				p.i = i
				return span{}, p.errorf("unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || hex4(b[i+2:i+6]) < 0 {
					p.i = i
					return span{}, p.errorf("invalid unicode escape")
				}
				i += 6
			default:
				p.i = i
				return span{}, p.errorf("invalid escape character %q", b[i+1])
			}
		case c < 0x20:
			p.i = i
			return span{}, p.errorf("invalid control character in string")
		default:
			i++
		}
	}
}

// hex4 returns the value of 4 hexadecimal digits, or -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// bytes returns the content of a string span.
func (p *scanner) bytes(s span) []byte { return p.b[s.off:s.end] }

// text returns the content of a string span unescaped, in p.tmp when it
// has escapes: valid until the next call.
func (p *scanner) text(s span) []byte {
	if !s.esc {
		return p.bytes(s)
	}
	p.tmp = appendUnquoted(p.tmp[:0], p.bytes(s))
	return p.tmp
}

// appendUnquoted appends to dst the content of a JSON string (whose escapes
// the scanner checked) unescaped the way encoding/json unescapes it:
// surrogate pairs are joined, a lone surrogate and each byte of invalid
// UTF-8 become U+FFFD.
func appendUnquoted(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			e := s[i+1]
			i += 2
			switch e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i:])
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2 = hex4(s[i+2:])
					}
					if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
						dst = utf8.AppendRune(dst, pair)
						i += 6
						continue
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
			default: // " \ /
				dst = append(dst, e)
			}
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
		}
	}
	return dst
}

// unquotedLen bounds the length of a string span unescaped: escapes never
// grow, but an invalid UTF-8 byte becomes the 3 bytes of U+FFFD.
func unquotedLen(s span) int {
	if s.esc {
		return 3 * s.len()
	}
	return s.len()
}

// number consumes a JSON number and returns its text.
func (p *scanner) number() ([]byte, error) {
	b := p.b
	start := p.i
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	intStart := i
	if i = skipDigits(b, i); i == intStart {
		return nil, p.errorf("invalid character %q looking for a value", b[min(i, len(b)-1)])
	}
	if b[intStart] == '0' && i-intStart > 1 {
		return nil, p.errorf("number with a leading zero")
	}
	if i < len(b) && b[i] == '.' {
		frac := i + 1
		if i = skipDigits(b, frac); i == frac {
			p.i = i
			return nil, p.errorf("no digits after the decimal point")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		exp := i
		if i = skipDigits(b, exp); i == exp {
			p.i = i
			return nil, p.errorf("no digits in the exponent")
		}
	}
	p.i = i
	return b[start:i], nil
}

// skipDigits returns the index of the first byte from i on that is not a
// decimal digit.
func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// member moves to the next member of the object being read and returns its
// key. first is true right after the opening brace. It returns ok false
// after consuming the closing brace.
func (p *scanner) member(first bool) (key span, ok bool, err error) {
	c, err := p.peek()
	if err != nil {
		return span{}, false, err
	}
	switch {
	case c == '}' && first:
		p.i++
		p.depth--
		return span{}, false, nil
	case first:
	case c == '}':
		p.i++
		p.depth--
		return span{}, false, nil
	case c == ',':
		p.i++
		if c, err = p.peek(); err != nil {
			return span{}, false, err
		}
	default:
		return span{}, false, p.errorf("expected ',' or '}' after an object member, found %q", c)
	}
	if c != '"' {
		return span{}, false, p.errorf("expected a member name, found %q", c)
	}
	if key, err = p.strAt(); err != nil {
		return span{}, false, err
	}
	if err := p.expect(':'); err != nil {
		return span{}, false, err
	}
	return key, true, nil
}

// element moves to the next element of the array being read. first is true
// right after the opening bracket. It returns false after consuming the
// closing bracket.
func (p *scanner) element(first bool) (bool, error) {
	c, err := p.peek()
	if err != nil {
		return false, err
	}
	switch {
	case c == ']' && first:
	case first:
		return true, nil
	case c == ']':
	case c == ',':
		p.i++
		return true, nil
	default:
		return false, p.errorf("expected ',' or ']' after an array element, found %q", c)
	}
	p.i++
	p.depth--
	return false, nil
}

// openObject consumes the '{' that must come next.
func (p *scanner) openObject() error {
	if err := p.expect('{'); err != nil {
		return err
	}
	return p.open()
}

// openArray consumes the '[' that must come next.
func (p *scanner) openArray() error {
	if err := p.expect('['); err != nil {
		return err
	}
	return p.open()
}

// skipValue consumes one value of any kind, checking its grammar, without
// recursion.
func (p *scanner) skipValue() error {
	stack := p.stack[:0]
	defer func() { p.stack = stack[:0] }()
	for {
		// A value is expected.
		c, err := p.peek()
		if err != nil {
			return err
		}
		switch c {
		case '{', '[':
			p.i++
			if err := p.open(); err != nil {
				return err
			}
			obj := c == '{'
			var more bool
			if obj {
				_, more, err = p.member(true)
			} else {
				more, err = p.element(true)
			}
			if err != nil {
				return err
			}
			if more {
				stack = append(stack, obj)
				continue
			}
		case '"':
			if _, err := p.strAt(); err != nil {
				return err
			}
		case 't':
			err = p.literal("true")
		case 'f':
			err = p.literal("false")
		case 'n':
			err = p.literal("null")
		default:
			_, err = p.number()
		}
		if err != nil {
			return err
		}
		// A value ended: close the containers it ended.
		for {
			if len(stack) == 0 {
				return nil
			}
			var more bool
			if stack[len(stack)-1] {
				_, more, err = p.member(false)
			} else {
				more, err = p.element(false)
			}
			if err != nil {
				return err
			}
			if more {
				break
			}
			stack = stack[:len(stack)-1]
		}
	}
}
