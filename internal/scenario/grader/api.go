package grader

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/isobench/isobench/internal/workload"
)

// API limits that are not configurable.
const (
	maxCommand   = 4096
	maxWait      = 60 * time.Second
	defaultLimit = 100
	maxLimit     = 500
)

// api serves the HTTP interface.
type api struct {
	store     *Store
	wake      func()
	events    *events
	token     string
	maxUpload int64
	limits    JobLimits
	backend   string
	log       *slog.Logger
}

// apiError is every error response's body.
type apiError struct {
	Error string `json:"error"`
	// Field names the request field at fault, when one is.
	Field string `json:"field,omitempty"`
}

func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.health)
	mux.Handle("POST /v1/submissions", a.auth(a.submit))
	mux.Handle("GET /v1/submissions", a.auth(a.list))
	mux.Handle("GET /v1/submissions/{id}", a.auth(a.get))
	mux.Handle("GET /v1/submissions/{id}/log", a.auth(a.getLog))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", "no such endpoint: %s %s (see docs/grader.md)", r.Method, r.URL.Path)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, field, format string, args ...any) {
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, args...), Field: field})
}

// auth requires "Authorization: Bearer <token>".
func (a *api) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="isobench-grader"`)
			if !ok {
				writeError(w, http.StatusUnauthorized, "Authorization", "missing bearer token: send Authorization: Bearer <token> (the service printed its token file at start)")
			} else {
				writeError(w, http.StatusUnauthorized, "Authorization", "wrong token")
			}
			return
		}
		h(w, r)
	})
}

func (a *api) health(w http.ResponseWriter, r *http.Request) {
	counts, err := a.store.Counts(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "", "database: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "backend": a.backend, "db": a.store.Describe(),
		"queued": counts[StatusQueued], "running": counts[StatusRunning], "done": counts[StatusDone]})
}

// submitRequest is the JSON form of a submission. Files or Archive (not
// both) carry its files.
type submitRequest struct {
	Command string            `json:"command"`
	Files   map[string]string `json:"files,omitempty"`
	Archive string            `json:"archive,omitempty"` // base64 of a .tar.gz
	// TimeoutS is this submission's time limit in seconds (default and
	// maximum: the service's --time-limit).
	TimeoutS float64 `json:"timeout_s,omitempty"`
}

// fieldError is a validation failure of one request field.
type fieldError struct {
	status int
	field  string
	msg    string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func badField(field, format string, args ...any) *fieldError {
	return &fieldError{status: http.StatusBadRequest, field: field, msg: fmt.Sprintf(format, args...)}
}

func (a *api) submit(w http.ResponseWriter, r *http.Request) {
	sub, ferr := a.parseSubmission(w, r)
	if ferr != nil {
		writeError(w, ferr.status, ferr.field, "%s", ferr.msg)
		return
	}
	id, err := newID()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", "%v", err)
		return
	}
	sub.ID, sub.Status, sub.CreatedAt = id, StatusQueued, time.Now().UTC()
	if err := a.store.Create(r.Context(), sub); err != nil {
		a.log.Error("store submission", "err", err)
		writeError(w, http.StatusServiceUnavailable, "", "the submission could not be stored: %v", err)
		return
	}
	a.wake()
	w.Header().Set("Location", "/v1/submissions/"+id)
	writeJSON(w, http.StatusCreated, sub)
}

// parseSubmission reads and validates a JSON or multipart submission.
func (a *api) parseSubmission(w http.ResponseWriter, r *http.Request) (*Submission, *fieldError) {
	// Base64 in JSON takes 4/3 of the archive, plus room for the rest.
	r.Body = http.MaxBytesReader(w, r.Body, a.maxUpload*4/3+maxCommand+64<<10)
	if r.URL.RawQuery != "" {
		// The submission is the body alone: a parameter in the URL would
		// otherwise be silently ignored (or, with forms, mixed in).
		return nil, badField("query", "a submission takes no URL parameters (%q): send every field in the body", r.URL.RawQuery)
	}
	ctype, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, &fieldError{http.StatusUnsupportedMediaType, "Content-Type", "send application/json or multipart/form-data"}
	}
	var req submitRequest
	var archive []byte
	switch ctype {
	case "application/json":
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			if tooLarge(err) {
				return nil, a.tooLarge()
			}
			return nil, badField("body", "not a valid submission object: %v", err)
		}
		if req.Archive != "" {
			if len(req.Files) > 0 {
				return nil, badField("archive", "send files or archive, not both")
			}
			if archive, err = base64.StdEncoding.DecodeString(req.Archive); err != nil {
				return nil, badField("archive", "not base64: %v", err)
			}
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(a.maxUpload + 64<<10); err != nil {
			if tooLarge(err) {
				return nil, a.tooLarge()
			}
			return nil, badField("body", "not a valid multipart form: %v", err)
		}
		defer r.MultipartForm.RemoveAll()
		for k, vs := range r.MultipartForm.Value {
			switch k {
			case "command", "timeout_s":
				if len(vs) != 1 {
					return nil, badField(k, "given %d times; send it once", len(vs))
				}
			case "archive":
				return nil, badField("archive", "must be a file upload (curl -F archive=@submission.tar.gz), not a text field")
			default:
				return nil, badField(k, "unknown form field (valid: command, timeout_s, archive)")
			}
		}
		for k, fs := range r.MultipartForm.File {
			if k != "archive" {
				return nil, badField(k, "unknown file field (the files go in one .tar.gz named archive)")
			}
			if len(fs) != 1 {
				return nil, badField(k, "given %d times; send one .tar.gz", len(fs))
			}
		}
		if vs := r.MultipartForm.Value["command"]; len(vs) == 1 {
			req.Command = vs[0]
		}
		if vs := r.MultipartForm.Value["timeout_s"]; len(vs) == 1 && vs[0] != "" {
			if req.TimeoutS, err = strconv.ParseFloat(vs[0], 64); err != nil {
				return nil, badField("timeout_s", "%q is not a number of seconds", vs[0])
			}
		}
		if fs := r.MultipartForm.File["archive"]; len(fs) == 1 {
			f, err := fs[0].Open()
			if err != nil {
				return nil, badField("archive", "read: %v", err)
			}
			archive, err = io.ReadAll(io.LimitReader(f, a.maxUpload+1))
			f.Close()
			if err != nil {
				return nil, badField("archive", "read: %v", err)
			}
		}
	default:
		return nil, &fieldError{http.StatusUnsupportedMediaType, "Content-Type", fmt.Sprintf("%s is not accepted: send application/json or multipart/form-data", ctype)}
	}

	switch {
	case strings.TrimSpace(req.Command) == "":
		return nil, badField("command", "is required: the shell command that runs the tests, e.g. \"sh test.sh\"")
	case len(req.Command) > maxCommand:
		return nil, badField("command", "is %d bytes; the limit is %d (put long scripts in a file)", len(req.Command), maxCommand)
	case strings.ContainsRune(req.Command, 0):
		return nil, badField("command", "contains a NUL byte")
	case !utf8.ValidString(req.Command):
		return nil, badField("command", "is not valid UTF-8")
	}
	if len(req.Files) > 0 {
		if archive, err = workload.MakeJobArchive(req.Files); err != nil {
			return nil, badField("files", "%v", err)
		}
	}
	if int64(len(archive)) > a.maxUpload {
		return nil, a.tooLarge()
	}
	if len(archive) > 0 {
		if _, err := workload.CheckJobArchive(bytes.NewReader(archive)); err != nil {
			return nil, badField("archive", "%v", err)
		}
	}
	timeout := a.limits.Timeout
	if req.TimeoutS != 0 {
		d := time.Duration(req.TimeoutS * float64(time.Second))
		if !(req.TimeoutS > 0) || d < 100*time.Millisecond || d > a.limits.Timeout {
			return nil, badField("timeout_s", "%v is not between 0.1 and the service's time limit (%v s)", req.TimeoutS, a.limits.Timeout.Seconds())
		}
		timeout = d
	}
	return &Submission{Command: req.Command, Archive: archive, Timeout: timeout}, nil
}

func tooLarge(err error) bool {
	var mb *http.MaxBytesError
	// The multipart reader does not wrap the body's error.
	return errors.As(err, &mb) || strings.Contains(err.Error(), "request body too large")
}

func (a *api) tooLarge() *fieldError {
	return &fieldError{http.StatusRequestEntityTooLarge, "archive", fmt.Sprintf("the upload is larger than the service's limit of %d bytes (its --max-upload)", a.maxUpload)}
}

// newID is a random submission id: 24 hex digits.
func newID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("submission id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func validID(id string) bool {
	if len(id) != 24 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		writeError(w, http.StatusNotFound, "id", "no submission %q (ids are 24 hex digits)", id)
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			secs, ferr := strconv.ParseFloat(v, 64)
			if ferr != nil {
				writeError(w, http.StatusBadRequest, "wait", "%q is not a duration (e.g. 30s)", v)
				return
			}
			d = time.Duration(secs * float64(time.Second))
		}
		if d < 0 || d > maxWait {
			writeError(w, http.StatusBadRequest, "wait", "%s is not between 0 and %s", d, maxWait)
			return
		}
		wait = d
	}
	// Subscribe before reading, so a finish in between is not missed.
	var done <-chan struct{}
	if wait > 0 {
		ch, release := a.events.wait(id)
		defer release()
		done = ch
	}
	sub, err := a.store.Get(r.Context(), id)
	if err == nil && wait > 0 && sub.Status != StatusDone {
		t := time.NewTimer(wait)
		select {
		case <-done:
			sub, err = a.store.Get(r.Context(), id)
		case <-t.C:
		case <-a.events.stopped:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "id", "no submission %q", id)
	case err != nil:
		if r.Context().Err() == nil {
			writeError(w, http.StatusServiceUnavailable, "", "%v", err)
		}
	default:
		writeJSON(w, http.StatusOK, sub)
	}
}

func (a *api) getLog(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		writeError(w, http.StatusNotFound, "id", "no submission %q (ids are 24 hex digits)", id)
		return
	}
	log, st, err := a.store.Log(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "id", "no submission %q", id)
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "", "%v", err)
	case st != StatusDone:
		writeError(w, http.StatusConflict, "id", "submission %s is %s: its log exists once it is done", id, st)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, log)
	}
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := Status(q.Get("status"))
	switch status {
	case "", StatusQueued, StatusRunning, StatusDone:
	default:
		writeError(w, http.StatusBadRequest, "status", "%q is not one of queued, running, done", status)
		return
	}
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, "limit", "%q is not a number from 1 to %d", v, maxLimit)
			return
		}
		limit = n
	}
	after := q.Get("after")
	if after != "" {
		ok := validID(after)
		if ok {
			var err error
			if ok, err = a.store.Exists(r.Context(), after); err != nil {
				writeError(w, http.StatusServiceUnavailable, "", "%v", err)
				return
			}
		}
		if !ok {
			writeError(w, http.StatusBadRequest, "after", "%q is not a submission id (pass the next of the previous page)", after)
			return
		}
	}
	subs, err := a.store.List(r.Context(), status, after, limit)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "", "%v", err)
		return
	}
	next := ""
	if len(subs) == limit {
		next = subs[len(subs)-1].ID
	}
	if subs == nil {
		subs = []*Submission{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"submissions": subs, "next": next})
}
