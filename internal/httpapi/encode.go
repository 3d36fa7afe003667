package httpapi

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/millrace/millrace/internal/batch"
)

// tsLayout is RFC 3339 with milliseconds, the API's time format.
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. s must be valid UTF-8 (the
// callers check); U+2028 and U+2029 are escaped so that the output is
// also valid JavaScript.
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+4, len(s))]))
			if r == '\u2028' || r == '\u2029' {
				b = append(b, s[start:i]...)
				b = append(b, `\u202`...)
				b = append(b, hexDigits[r&0xf])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// recordIsText reports whether a record's key, value and header values are
// all valid UTF-8, so that it can be shown as text.
func recordIsText(r *batch.Record) bool {
	if !utf8.Valid(r.Key) || !utf8.Valid(r.Value) {
		return false
	}
	for _, h := range r.Headers {
		if !utf8.Valid(h.Value) {
			return false
		}
	}
	return true
}

// appendBytesJSON appends v as a JSON string (base64 if b64), or null.
func appendBytesJSON(b, v []byte, b64 bool) []byte {
	switch {
	case v == nil:
		return append(b, "null"...)
	case b64:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v)
		return append(b, '"')
	}
	return appendJSONString(b, v)
}

// appendRecordJSON appends one record as the API shows it:
//
//	{"partition":0,"offset":42,"timestamp":"2025-01-02T03:04:05.678Z",
//	 "timestamp_ms":1735787045678,"key":"k","value":"v",
//	 "headers":[{"key":"h","value":"x"}]}
//
// When the key, the value or a header value is not valid UTF-8, the record
// gets "encoding":"base64" and all three are base64 (standard, padded).
// Null keys and values are JSON null.
func appendRecordJSON(b []byte, part int32, r *batch.Record) []byte {
	b64 := !recordIsText(r)
	b = append(b, `{"partition":`...)
	b = strconv.AppendInt(b, int64(part), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, r.Offset, 10)
	b = append(b, `,"timestamp":"`...)
	b = time.UnixMilli(r.Timestamp).UTC().AppendFormat(b, tsLayout)
	b = append(b, `","timestamp_ms":`...)
	b = strconv.AppendInt(b, r.Timestamp, 10)
	if b64 {
		b = append(b, `,"encoding":"base64"`...)
	}
	b = append(b, `,"key":`...)
	b = appendBytesJSON(b, r.Key, b64)
	b = append(b, `,"value":`...)
	b = appendBytesJSON(b, r.Value, b64)
	b = append(b, `,"headers":[`...)
	for i, h := range r.Headers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		if utf8.ValidString(h.Key) {
			b = appendJSONString(b, h.Key)
		} else {
			b = appendJSONString(b, strings.ToValidUTF8(h.Key, "\uFFFD"))
		}
		b = append(b, `,"value":`...)
		b = appendBytesJSON(b, h.Value, b64)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// recordBytes is what a record counts for in the byte metrics.
func recordBytes(r *batch.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}
