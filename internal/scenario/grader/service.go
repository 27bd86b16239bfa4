package grader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/isobench/isobench/internal/backend"
)

// Config is one grader service.
type Config struct {
	Backend backend.Backend
	// DB is a SQLite file or a postgres:// URL.
	DB string
	// Listen is the API's address, e.g. 127.0.0.1:8080 (port 0: any).
	Listen  string
	Token   string
	Workers int
	Mode    Mode
	Limits  JobLimits
	// MaxUpload bounds a submission's archive in bytes.
	MaxUpload int64
	// SandboxPrefix starts every sandbox id (backend.IDPrefix + a run id).
	SandboxPrefix string
	Log           *slog.Logger
}

// Validate names the offending field.
func (c Config) Validate() error {
	if c.Backend == nil {
		return errors.New("backend: none given")
	}
	if len(c.Token) < 16 {
		return errors.New("token: shorter than 16 characters; use a random one (the default token file holds one)")
	}
	if c.MaxUpload < 1024 || c.MaxUpload > workloadMaxUpload {
		return fmt.Errorf("max-upload: %d bytes is not between 1 KiB and %d", c.MaxUpload, workloadMaxUpload)
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	return backend.ValidID(c.SandboxPrefix + "-000001")
}

// workloadMaxUpload keeps a job request, its archive base64-encoded,
// within one agent frame.
const workloadMaxUpload = 4 << 20

// Service is a running grader: API, database and workers.
type Service struct {
	cfg      Config
	store    *Store
	exec     *Executor
	events   *events
	ln       net.Listener
	srv      *http.Server
	requeued []*Submission

	stopWorkers context.CancelFunc
	workers     sync.WaitGroup
	serveErr    chan error
	stopOnce    sync.Once
	stopErr     error
}

// Start opens the database, re-queues what an earlier instance left
// running, prepares the sandboxes (snapshot or warm pool), and starts the
// workers and the API.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	store, err := OpenStore(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, store: store, serveErr: make(chan error, 1)}
	fail := func(err error) (*Service, error) {
		if s.exec != nil {
			err = errors.Join(err, s.exec.close())
		}
		return nil, errors.Join(err, store.Close())
	}
	if s.requeued, err = store.RequeueInterrupted(ctx); err != nil {
		return fail(err)
	}
	for _, sub := range s.requeued {
		cfg.Log.Warn("re-queued a submission that was running when the service stopped", "id", sub.ID, "attempts", sub.Attempts, "sandbox", sub.SandboxID)
	}
	ev := newEvents()
	s.events = ev
	if s.exec, err = newExecutor(store, cfg.Backend, cfg.Mode, cfg.Limits, cfg.Workers, cfg.SandboxPrefix, ev, cfg.Log); err != nil {
		return fail(err)
	}
	if err := s.exec.prepare(ctx); err != nil {
		return fail(err)
	}
	a := &api{store: store, wake: s.exec.Wake, events: ev, token: cfg.Token, maxUpload: cfg.MaxUpload, limits: cfg.Limits,
		backend: string(cfg.Backend.Name()), log: cfg.Log}
	if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	s.srv = &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: maxWait + 30*time.Second, ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn)}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopWorkers = cancel
	s.workers.Go(func() { s.exec.run(wctx) })
	go func() { s.serveErr <- s.srv.Serve(s.ln) }()
	cfg.Log.Info("grader service started", "addr", s.Addr(), "backend", cfg.Backend.Name(), "mode", cfg.Mode, "workers", cfg.Workers, "db", store.Describe())
	return s, nil
}

// Addr is the API's address.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Requeued lists the submissions that were running when an earlier
// instance stopped, and were queued again at start.
func (s *Service) Requeued() []*Submission { return s.requeued }

// Wait returns when ctx ends (nil) or the API server stops on its own
// (its error).
func (s *Service) Wait(ctx context.Context) error {
	select {
	case err := <-s.serveErr:
		s.serveErr <- err
		return fmt.Errorf("API server: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// Stop stops accepting requests, stops the workers (a running job's
// sandbox is destroyed and the job re-queued), removes the snapshot or
// warm pool, and closes the database.
func (s *Service) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var errs []error
		s.events.stop()
		if err := s.srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("API shutdown: %w", err))
			_ = s.srv.Close()
		}
		s.stopWorkers()
		s.workers.Wait()
		errs = append(errs, s.exec.close(), s.store.Close())
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}
