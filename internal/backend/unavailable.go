package backend

import (
	"errors"
	"fmt"
)

// ErrUnavailable marks a backend that cannot work on this host. It is a
// result to report (with reason and fix), not a failure of the run.
var ErrUnavailable = errors.New("backend unavailable")

// UnavailableError gives the reason and what the user can do about it.
type UnavailableError struct {
	Reason string
	Fix    string
}

func (e *UnavailableError) Error() string {
	if e.Fix == "" {
		return e.Reason
	}
	return fmt.Sprintf("%s (fix: %s)", e.Reason, e.Fix)
}

func (e *UnavailableError) Unwrap() error { return ErrUnavailable }

// Unavailable returns an error wrapping ErrUnavailable.
func Unavailable(reason, fix string) error { return &UnavailableError{Reason: reason, Fix: fix} }

// Explain splits an error into reason and fix for display.
func Explain(err error) (reason, fix string) {
	var u *UnavailableError
	if errors.As(err, &u) {
		return u.Reason, u.Fix
	}
	return err.Error(), ""
}
