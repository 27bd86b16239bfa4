package grader

import "sync"

// events lets API requests wait for a submission to finish (long polls)
// instead of polling the database.
type events struct {
	mu      sync.Mutex
	waiters map[string]*waiter
	// stopped: the service is stopping; waits end at once, so that the
	// HTTP server's graceful shutdown is not held up by long polls.
	stopped chan struct{}
}

type waiter struct {
	ch chan struct{}
	n  int // requests waiting
}

func newEvents() *events {
	return &events{waiters: map[string]*waiter{}, stopped: make(chan struct{})}
}

// stop ends every wait, now and later.
func (e *events) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.stopped:
	default:
		close(e.stopped)
	}
}

// wait returns a channel closed when id finishes in this service, and a
// function to call when no longer waiting (so that abandoned waits on a
// submission that never finishes do not pile up).
func (e *events) wait(id string) (<-chan struct{}, func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, ok := e.waiters[id]
	if !ok {
		w = &waiter{ch: make(chan struct{})}
		e.waiters[id] = w
	}
	w.n++
	return w.ch, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		w.n--
		if w.n == 0 && e.waiters[id] == w {
			delete(e.waiters, id)
		}
	}
}

// done wakes whoever waits for id.
func (e *events) done(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w, ok := e.waiters[id]; ok {
		close(w.ch)
		delete(e.waiters, id)
	}
}
