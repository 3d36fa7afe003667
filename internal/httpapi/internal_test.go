package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/millrace/millrace"
)

func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	a := New(Options{})
	var served []string
	for _, r := range a.routes() {
		served = append(served, r.pattern)
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("openapi.json documents\n  %v\nthe API serves\n  %v", documented, served)
	}
}

func TestPanickingHandlerIs500AndServerLives(t *testing.T) {
	var logs bytes.Buffer
	a := New(Options{Log: nil, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h := a.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"code":"internal"`) {
		t.Fatalf("panic answered %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "stack") {
		t.Fatalf("panic not logged with its stack: %s", logs.String())
	}
	// The same handler chain serves the next request.
	rec = httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("healthz after a panic: %d", rec.Code)
	}
}

// The scanner decodes strings exactly as encoding/json does.
func FuzzScannerStrings(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\u263a"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`,
		`"\udc00\ud800"`, `""`, `"é"`, `"\u0000"`, "\"\x01\"", `"\x"`, `"unterminated`, `"\u12"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var want string
		wantErr := json.Unmarshal(in, &want) != nil
		if !wantErr && !utf8.Valid(in) {
			return // encoding/json replaces invalid UTF-8; the scanner keeps bytes
		}
		sc := scanner{b: in}
		sp, err := sc.str()
		if err == nil && !sc.atEnd() {
			err = sc.errf("trailing")
		}
		if (err != nil) != wantErr {
			t.Fatalf("%q: scanner error %v, encoding/json error %v", in, err, wantErr)
		}
		if err == nil && string(sc.bytes(sp)) != want {
			t.Fatalf("%q: scanner %q, encoding/json %q", in, sc.bytes(sp), want)
		}
	})
}

// appendJSONString output decodes back to its input.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quo\"te", "back\\slash", "\x00\x1f\n\t", "é☺😀", "\u2028\u2029", "<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		out := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil || back != s {
			t.Fatalf("%q encoded as %s, decoded %q (%v)", s, out, back, err)
		}
	})
}

func TestAppendRecordJSONShowsBinaryAsBase64(t *testing.T) {
	st := getAppendState()
	defer putAppendState(st)
	st.sc.b = []byte(`{"records":[{"key":"k","value":"v","headers":{"h":"x"}}]}`)
	if err := st.parseJSON(); err != nil {
		t.Fatal(err)
	}
	if len(st.recs) != 1 || string(st.sc.bytes(st.recs[0].value)) != "v" || st.hdrs[0].key != "h" {
		t.Fatalf("parsed %+v %+v", st.recs, st.hdrs)
	}
	_ = millrace.Record{}
}

// Any body either parses or fails with a 400; it never panics, and what
// parses resolves within the body and arena.
func FuzzAppendBody(f *testing.F) {
	f.Add([]byte(`{"records":[{"key":"k","value":"v","headers":{"h":"x"},"timestamp":5,"partition":1}],"encoding":"utf8","expected_offsets":{"0":3}}`), false)
	f.Add([]byte("{\"value\":\"a\\nb\",\"headers\":[{\"key\":\"h\",\"value\":null}]}\n{\"value\":\"AA==\",\"encoding\":\"base64\"}\n"), true)
	f.Fuzz(func(t *testing.T, body []byte, nd bool) {
		st := getAppendState()
		defer putAppendState(st)
		st.sc.b = append(st.sc.b[:0], body...)
		var err error
		if nd {
			err = st.parseNDJSON()
		} else {
			err = st.parseJSON()
		}
		if err == nil {
			err = st.decodeBase64()
		}
		if err != nil {
			if ae, ok := err.(*apiError); !ok || ae.status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		for _, r := range st.recs {
			st.sc.bytes(r.key)
			st.sc.bytes(r.value)
			for _, h := range st.hdrs[r.hdr0:r.hdr1] {
				st.sc.bytes(h.value)
			}
		}
	})
}
