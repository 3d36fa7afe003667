package httpapi

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is the append body scanner: a small JSON reader for exactly the
// shapes an append takes (an object of records, or one record per NDJSON
// line). It exists for speed: strings without escapes are not copied but
// located in the body (a span), so scanning a record allocates nothing but
// header keys. It is strict: unknown fields, trailing data and non-integer
// numbers are errors that name the field.

// Where a span's bytes live.
const (
	spanNull  uint8 = iota // JSON null or absent
	spanBody               // in the request body, unescaped
	spanArena              // in the arena, after unescaping or base64 decoding
)

// span locates a string value: off and n index the body or the arena.
type span struct {
	off, n int
	src    uint8
}

// scanner reads JSON from b at i. Unescaped strings are appended to arena.
type scanner struct {
	b     []byte
	i     int
	arena []byte
}

func (s *scanner) errf(format string, args ...any) error {
	return fmt.Errorf(format+" (at byte %d)", append(args, s.i)...)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// atEnd reports whether only space is left.
func (s *scanner) atEnd() bool {
	s.ws()
	return s.i >= len(s.b)
}

// expect consumes c after optional space.
func (s *scanner) expect(c byte) error {
	if got := s.peek(); got != c || s.i >= len(s.b) {
		if s.i >= len(s.b) {
			return s.errf("unexpected end of JSON, want %q", c)
		}
		return s.errf("want %q, found %q", c, got)
	}
	s.i++
	return nil
}

// literal consumes a literal word (null, true, false) if it is next.
func (s *scanner) literal(word string) bool {
	if s.peek() == word[0] && len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// str reads a string. Without escapes the result is a span of the body.
func (s *scanner) str() (span, error) {
	if s.peek() != '"' {
		return span{}, s.errf("want a string")
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return span{off: start, n: j - start, src: spanBody}, nil
		case c == '\\':
			return s.strEscaped(start, j)
		case c < 0x20:
			s.i = j
			return span{}, s.errf("control character %#x in a string (escape it)", c)
		}
	}
	s.i = len(s.b)
	return span{}, s.errf("unterminated string")
}

// strEscaped finishes a string holding escapes, unescaping into the arena;
// j is the first backslash.
func (s *scanner) strEscaped(start, j int) (span, error) {
	off := len(s.arena)
	s.arena = append(s.arena, s.b[start:j]...)
	for j < len(s.b) {
		c := s.b[j]
		switch {
		case c == '"':
			s.i = j + 1
			return span{off: off, n: len(s.arena) - off, src: spanArena}, nil
		case c < 0x20:
			s.i = j
			return span{}, s.errf("control character %#x in a string (escape it)", c)
		case c != '\\':
			s.arena = append(s.arena, c)
			j++
			continue
		}
		if j+1 >= len(s.b) {
			break
		}
		j++
		switch e := s.b[j]; e {
		case '"', '\\', '/':
			s.arena = append(s.arena, e)
		case 'b':
			s.arena = append(s.arena, '\b')
		case 'f':
			s.arena = append(s.arena, '\f')
		case 'n':
			s.arena = append(s.arena, '\n')
		case 'r':
			s.arena = append(s.arena, '\r')
		case 't':
			s.arena = append(s.arena, '\t')
		case 'u':
			r, next, ok := hex4(s.b, j+1)
			if !ok {
				s.i = j
				return span{}, s.errf(`bad \u escape`)
			}
			j = next - 1
			if utf16.IsSurrogate(r) {
				if r2, next2, ok := hex4(s.b, next+2); ok && next+1 < len(s.b) && s.b[next] == '\\' && s.b[next+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r, j = dec, next2-1
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			s.arena = utf8.AppendRune(s.arena, r)
		default:
			s.i = j
			return span{}, s.errf("bad escape \\%c", e)
		}
		j++
	}
	s.i = len(s.b)
	return span{}, s.errf("unterminated string")
}

// hex4 reads four hex digits at b[i:].
func hex4(b []byte, i int) (rune, int, bool) {
	if i+4 > len(b) {
		return 0, i, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, i, false
		}
	}
	return r, i + 4, true
}

// strOrNull reads a string or null (a null span).
func (s *scanner) strOrNull() (span, error) {
	if s.literal("null") {
		return span{}, nil
	}
	return s.str()
}

// integer reads a JSON number that must be an integer.
func (s *scanner) integer() (int64, error) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, s.errf("want an integer, found a fraction or exponent")
	}
	v, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	if err != nil {
		if s.i == start {
			return 0, s.errf("want an integer")
		}
		return 0, s.errf("integer %s out of range", s.b[start:s.i])
	}
	return v, nil
}

// object calls field for each member of an object; field reads the value.
// name aliases the body or arena and is valid only during the call.
func (s *scanner) object(field func(name []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		sp, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := field(s.bytes(sp)); err != nil {
			return err
		}
		if s.atEnd() {
			return s.errf("unexpected end of JSON in an object")
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errf("want ',' or '}' after a field")
		}
	}
}

// array calls elem for each element of an array.
func (s *scanner) array(elem func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if s.atEnd() {
			return s.errf("unexpected end of JSON in an array")
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.errf("want ',' or ']' after an array element")
		}
	}
}

var empty = []byte{}

// bytes resolves a span; a null span is nil, an empty string is empty but
// not nil.
func (s *scanner) bytes(sp span) []byte {
	switch {
	case sp.src == spanNull:
		return nil
	case sp.n == 0:
		return empty
	case sp.src == spanBody:
		return s.b[sp.off : sp.off+sp.n : sp.off+sp.n]
	}
	return s.arena[sp.off : sp.off+sp.n : sp.off+sp.n]
}
