package grader

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	// SQLite compiled to Go (no cgo), and PostgreSQL's wire protocol: both
	// are light at package init, which the in-sandbox agent (this same
	// binary) pays at every start.
	_ "github.com/lib/pq"
	_ "github.com/ncruces/go-sqlite3/driver"
)

// ErrNotFound: no submission has that id.
var ErrNotFound = errors.New("no such submission")

// Store keeps submissions in SQL. One implementation serves SQLite and
// PostgreSQL; the dialect only changes placeholders, a few types and how a
// worker claims the next job.
type Store struct {
	db      *sql.DB
	dialect dialect
	// what names the database for messages, without credentials.
	what string
}

type dialect int

const (
	sqlite dialect = iota
	postgres
)

// OpenStore opens (and migrates) the database named by dsn: a
// postgres:// or postgresql:// URL, or a SQLite file path (optionally
// prefixed with sqlite:).
func OpenStore(ctx context.Context, dsn string) (*Store, error) {
	s := &Store{}
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, fmt.Errorf("db: %q is not a valid PostgreSQL URL: %w", redact(dsn), err)
		}
		s.dialect, s.what = postgres, "postgres://"+u.Host+u.Path
		db, err := sql.Open("postgres", dsn)
		if err != nil {
			return nil, fmt.Errorf("db %s: %w", s.what, err)
		}
		s.db = db
	default:
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("db: empty path; pass a SQLite file or a postgres:// URL")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		s.dialect, s.what = sqlite, path
		// WAL lets readers (the API) proceed while a worker writes; the
		// busy timeout covers the rest, and full sync makes an accepted
		// submission survive a power cut, not only a crash.
		db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=journal_mode(wal)&_pragma=busy_timeout(10000)&_pragma=synchronous(full)&_pragma=foreign_keys(on)")
		if err != nil {
			return nil, fmt.Errorf("db %s: %w", path, err)
		}
		// One writer at a time is SQLite's model; one connection makes
		// that explicit instead of a storm of busy retries.
		db.SetMaxOpenConns(1)
		s.db = db
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.db.PingContext(pctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("db %s: cannot connect: %w", s.what, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// redact drops a URL's password for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Describe names the database (without credentials).
func (s *Store) Describe() string {
	if s.dialect == postgres {
		return "postgresql " + s.what
	}
	return "sqlite " + s.what
}

// migration is one schema step; both dialects' SQL are kept side by side.
type migration struct {
	version  int
	sqlite   string
	postgres string
}

var migrations = []migration{
	{1, `
CREATE TABLE submissions (
	id TEXT PRIMARY KEY,
	created_at INTEGER NOT NULL,
	status TEXT NOT NULL,
	command TEXT NOT NULL,
	archive BLOB,
	timeout_ms INTEGER NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	started_at INTEGER,
	finished_at INTEGER,
	verdict TEXT,
	exit_code INTEGER,
	message TEXT NOT NULL DEFAULT '',
	log TEXT NOT NULL DEFAULT '',
	output_bytes INTEGER NOT NULL DEFAULT 0,
	output_truncated INTEGER NOT NULL DEFAULT 0,
	backend TEXT NOT NULL DEFAULT '',
	sandbox_id TEXT NOT NULL DEFAULT '',
	queue_s REAL, sandbox_s REAL, run_s REAL, teardown_s REAL, tests_s REAL
);
CREATE INDEX submissions_by_status ON submissions (status, created_at, id);`, `
CREATE TABLE submissions (
	id TEXT PRIMARY KEY,
	created_at BIGINT NOT NULL,
	status TEXT NOT NULL,
	command TEXT NOT NULL,
	archive BYTEA,
	timeout_ms BIGINT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	started_at BIGINT,
	finished_at BIGINT,
	verdict TEXT,
	exit_code INTEGER,
	message TEXT NOT NULL DEFAULT '',
	log TEXT NOT NULL DEFAULT '',
	output_bytes BIGINT NOT NULL DEFAULT 0,
	output_truncated INTEGER NOT NULL DEFAULT 0,
	backend TEXT NOT NULL DEFAULT '',
	sandbox_id TEXT NOT NULL DEFAULT '',
	queue_s DOUBLE PRECISION, sandbox_s DOUBLE PRECISION, run_s DOUBLE PRECISION, teardown_s DOUBLE PRECISION, tests_s DOUBLE PRECISION
);
CREATE INDEX submissions_by_status ON submissions (status, created_at, id);`},
}

// SchemaVersion is the newest migration.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate applies the migrations the database lacks, each in its own
// transaction, and refuses a database from a newer isobench.
func (s *Store) migrate(ctx context.Context) error {
	if s.dialect == postgres {
		// Two services starting on one database must not both migrate.
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("db %s: %w", s.what, err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7205501)`); err != nil {
			return fmt.Errorf("db %s: migration lock: %w", s.what, err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7205501)`)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("db %s: migrations table: %w", s.what, err)
	}
	var current int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("db %s: read schema version: %w", s.what, err)
	}
	if current > SchemaVersion() {
		return fmt.Errorf("db %s: schema version %d is newer than this isobench's %d; use a newer isobench or another database", s.what, current, SchemaVersion())
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		stmt := m.sqlite
		if s.dialect == postgres {
			stmt = m.postgres
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("db %s: migration %d: %w", s.what, m.version, err)
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			tx.Rollback()
			return fmt.Errorf("db %s: migration %d: %w", s.what, m.version, err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), m.version, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("db %s: migration %d: %w", s.what, m.version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("db %s: migration %d: %w", s.what, m.version, err)
		}
	}
	return nil
}

// q rewrites ? placeholders as $1, $2 … for PostgreSQL. The statements
// here hold no literal question marks.
func (s *Store) q(query string) string {
	if s.dialect != postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Create stores a new queued submission; once it returns, the submission
// survives a crash of the service.
func (s *Store) Create(ctx context.Context, sub *Submission) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO submissions (id, created_at, status, command, archive, timeout_ms) VALUES (?, ?, ?, ?, ?, ?)`),
		sub.ID, sub.CreatedAt.UnixNano(), string(StatusQueued), sub.Command, sub.Archive, sub.Timeout.Milliseconds())
	if err != nil {
		return fmt.Errorf("db %s: store submission: %w", s.what, err)
	}
	return nil
}

const columns = `id, created_at, status, command, timeout_ms, attempts, started_at, finished_at, verdict, exit_code, message, output_bytes, output_truncated, backend, sandbox_id, queue_s, sandbox_s, run_s, teardown_s, tests_s`

type scanner interface{ Scan(dest ...any) error }

func scanSubmission(r scanner, extra ...any) (*Submission, error) {
	var (
		sub                         Submission
		created, timeoutMS          int64
		started, finished           sql.NullInt64
		verdict                     sql.NullString
		exitCode                    sql.NullInt64
		truncated                   int
		queue, sbx, run, down, test sql.NullFloat64
	)
	dest := []any{&sub.ID, &created, &sub.Status, &sub.Command, &timeoutMS, &sub.Attempts, &started, &finished, &verdict, &exitCode,
		&sub.Message, &sub.OutputBytes, &truncated, &sub.Backend, &sub.SandboxID, &queue, &sbx, &run, &down, &test}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	sub.CreatedAt = time.Unix(0, created).UTC()
	sub.Timeout = time.Duration(timeoutMS) * time.Millisecond
	if started.Valid {
		t := time.Unix(0, started.Int64).UTC()
		sub.StartedAt = &t
	}
	if finished.Valid {
		t := time.Unix(0, finished.Int64).UTC()
		sub.FinishedAt = &t
	}
	sub.Verdict = Verdict(verdict.String)
	if exitCode.Valid {
		c := int(exitCode.Int64)
		sub.ExitCode = &c
	}
	sub.OutputTruncated = truncated != 0
	if queue.Valid {
		sub.Phases = &Phases{Queue: queue.Float64, Sandbox: sbx.Float64, Run: run.Float64, Teardown: down.Float64, Tests: test.Float64}
	}
	return &sub, nil
}

// Get returns a submission without its archive and log.
func (s *Store) Get(ctx context.Context, id string) (*Submission, error) {
	sub, err := scanSubmission(s.db.QueryRowContext(ctx, s.q(`SELECT `+columns+` FROM submissions WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db %s: read submission %s: %w", s.what, id, err)
	}
	return sub, nil
}

// Log returns a submission's captured output.
func (s *Store) Log(ctx context.Context, id string) (string, Status, error) {
	var log string
	var st Status
	err := s.db.QueryRowContext(ctx, s.q(`SELECT log, status FROM submissions WHERE id = ?`), id).Scan(&log, &st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("db %s: read log of %s: %w", s.what, id, err)
	}
	return log, st, nil
}

// List returns up to limit submissions in submission order, after the
// submission with id after ("" from the start), optionally of one status.
func (s *Store) List(ctx context.Context, status Status, after string, limit int) ([]*Submission, error) {
	query := `SELECT ` + columns + ` FROM submissions WHERE 1=1`
	var args []any
	if status != "" {
		query += ` AND status = ?`
		args = append(args, string(status))
	}
	if after != "" {
		query += ` AND (created_at, id) > (SELECT created_at, id FROM submissions WHERE id = ?)`
		args = append(args, after)
	}
	query += ` ORDER BY created_at, id LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("db %s: list submissions: %w", s.what, err)
	}
	defer rows.Close()
	var out []*Submission
	for rows.Next() {
		sub, err := scanSubmission(rows)
		if err != nil {
			return nil, fmt.Errorf("db %s: list submissions: %w", s.what, err)
		}
		out = append(out, sub)
	}
	return out, rows.Err()
}

// Exists reports whether a submission has that id.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM submissions WHERE id = ?`), id).Scan(&n); err != nil {
		return false, fmt.Errorf("db %s: look up %s: %w", s.what, id, err)
	}
	return n > 0, nil
}

// Counts returns how many submissions are in each status.
func (s *Store) Counts(ctx context.Context) (map[Status]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM submissions GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("db %s: count submissions: %w", s.what, err)
	}
	defer rows.Close()
	out := map[Status]int{}
	for rows.Next() {
		var st Status
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("db %s: count submissions: %w", s.what, err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// Claim marks the oldest queued submission running for backend and
// returns it with its archive, or nil when none is queued. One service
// uses a database at a time (RequeueInterrupted at start relies on it);
// SKIP LOCKED only keeps concurrent workers of that service from waiting
// on each other in PostgreSQL.
func (s *Store) Claim(ctx context.Context, backendName string, now time.Time) (*Submission, error) {
	pick := `SELECT id FROM submissions WHERE status = 'queued' ORDER BY created_at, id LIMIT 1`
	if s.dialect == postgres {
		pick += ` FOR UPDATE SKIP LOCKED`
	}
	row := s.db.QueryRowContext(ctx, s.q(`UPDATE submissions SET status = 'running', started_at = ?, attempts = attempts + 1, backend = ?
		WHERE id = (`+pick+`) RETURNING `+columns+`, archive`), now.UnixNano(), backendName)
	var archive []byte
	sub, err := scanSubmission(row, &archive)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("db %s: claim a submission: %w", s.what, err)
	}
	sub.Archive = archive
	return sub, nil
}

// SetSandbox records the sandbox a running submission uses, so that a
// restarted service knows what a crashed one may have left.
func (s *Store) SetSandbox(ctx context.Context, id, sandboxID string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE submissions SET sandbox_id = ? WHERE id = ?`), sandboxID, id)
	if err != nil {
		return fmt.Errorf("db %s: record sandbox of %s: %w", s.what, id, err)
	}
	return nil
}

// Finish stores a running submission's outcome.
func (s *Store) Finish(ctx context.Context, id string, o Outcome, finished time.Time) error {
	var exit any
	if o.ExitCode != nil {
		exit = *o.ExitCode
	}
	truncated := 0
	if o.OutputTruncated {
		truncated = 1
	}
	p := o.Phases
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE submissions SET status = 'done', finished_at = ?, verdict = ?, exit_code = ?, message = ?, log = ?,
		output_bytes = ?, output_truncated = ?, sandbox_id = ?, queue_s = ?, sandbox_s = ?, run_s = ?, teardown_s = ?, tests_s = ? WHERE id = ? AND status = 'running'`),
		finished.UnixNano(), string(o.Verdict), exit, cleanText(o.Message), cleanText(o.Log), o.OutputBytes, truncated, o.SandboxID,
		p.Queue, p.Sandbox, p.Run, p.Teardown, p.Tests, id)
	if err != nil {
		return fmt.Errorf("db %s: store result of %s: %w", s.what, id, err)
	}
	return nil
}

// cleanText makes a job's output storable as text in both databases:
// PostgreSQL refuses NUL bytes and invalid UTF-8.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Requeue puts a running submission back in the queue (the service is
// stopping while it runs).
func (s *Store) Requeue(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE submissions SET status = 'queued', started_at = NULL WHERE id = ? AND status = 'running'`), id)
	if err != nil {
		return fmt.Errorf("db %s: re-queue %s: %w", s.what, id, err)
	}
	return nil
}

// RequeueInterrupted puts every running submission back in the queue and
// returns them: at start, those are jobs a stopped or crashed service was
// running. One service uses a database at a time (documented; a second
// would have its running jobs queued again).
func (s *Store) RequeueInterrupted(ctx context.Context) ([]*Submission, error) {
	running, err := s.List(ctx, StatusRunning, "", 1<<20)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE submissions SET status = 'queued', started_at = NULL WHERE status = 'running'`); err != nil {
		return nil, fmt.Errorf("db %s: re-queue interrupted submissions: %w", s.what, err)
	}
	return running, nil
}
