package testutil

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// APISpec is the part of a REST API's OpenAPI description that a client's
// requests must match: which operations exist and the shape of their
// bodies. Tests write it out from the official spec, so that a misspelt
// field, a missing required one or an invalid enum value fails.
type APISpec struct {
	// Operations maps "METHOD /path/{param}" to its body schema's name
	// ("" for no body).
	Operations map[string]string
	Schemas    map[string]Schema
}

// Schema is an object's shape. Property types are "string", "integer",
// "boolean", "enum:A,B", "object:<Schema>" or "array:<Schema>".
type Schema struct {
	Required   []string
	Properties map[string]string
}

// Check validates one request against the spec.
func (s APISpec) Check(method, path string, body []byte) error {
	op, schema, ok := s.match(method, path)
	if !ok {
		return fmt.Errorf("%s %s is not an operation of the spec", method, path)
	}
	if schema == "" {
		if len(strings.TrimSpace(string(body))) > 0 {
			return fmt.Errorf("%s takes no body, got %s", op, body)
		}
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s: body is not JSON: %w", op, err)
	}
	return s.checkValue(op, "object:"+schema, v)
}

func (s APISpec) match(method, path string) (string, string, bool) {
	segs := strings.Split(path, "/")
	for op, schema := range s.Operations {
		m, p, _ := strings.Cut(op, " ")
		if m != method {
			continue
		}
		want := strings.Split(p, "/")
		if len(want) != len(segs) {
			continue
		}
		ok := true
		for i := range want {
			if !(strings.HasPrefix(want[i], "{") || want[i] == segs[i]) {
				ok = false
				break
			}
		}
		if ok {
			return op, schema, true
		}
	}
	return "", "", false
}

func (s APISpec) checkValue(where, typ string, v any) error {
	kind, arg, _ := strings.Cut(typ, ":")
	switch kind {
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: want a string, got %v", where, v)
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s: want an integer, got %v", where, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean, got %v", where, v)
		}
	case "enum":
		str, ok := v.(string)
		if !ok || !slices.Contains(strings.Split(arg, ","), str) {
			return fmt.Errorf("%s: %v is not one of %s", where, v, arg)
		}
	case "array":
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %v", where, v)
		}
		for i, it := range items {
			if err := s.checkValue(fmt.Sprintf("%s[%d]", where, i), "object:"+arg, it); err != nil {
				return err
			}
		}
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %v", where, v)
		}
		sch, ok := s.Schemas[arg]
		if !ok {
			return fmt.Errorf("%s: spec has no schema %s", where, arg)
		}
		for _, r := range sch.Required {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s (%s): required field %q missing", where, arg, r)
			}
		}
		for k, fv := range obj {
			ft, ok := sch.Properties[k]
			if !ok {
				return fmt.Errorf("%s (%s): %q is not a field of the spec's schema", where, arg, k)
			}
			if err := s.checkValue(where+"."+k, ft, fv); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s: unknown type %q in the test's spec", where, typ)
	}
	return nil
}

// Request is one request an APIServer received.
type Request struct {
	Method, Path string
	Body         []byte
}

// APIServer is an HTTP server on a unix socket that records requests and
// answers them through a handler, for testing API clients.
type APIServer struct {
	Socket string
	mu     sync.Mutex
	reqs   []Request
}

// ServeAPI starts a server; answer returns the status and body for each
// request (nil answer: 204 No Content).
func ServeAPI(t testing.TB, answer func(Request) (int, string)) *APIServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "isobench-api-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &APIServer{Socket: filepath.Join(dir, "api.sock")}
	l, err := net.Listen("unix", s.Socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := Request{Method: r.Method, Path: r.URL.Path, Body: body}
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		status, text := http.StatusNoContent, ""
		if answer != nil {
			status, text = answer(req)
		}
		if text != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, text)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Requests returns what the server received so far.
func (s *APIServer) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}
