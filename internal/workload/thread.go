package workload

import "runtime"

// lockThread pins the calling goroutine to its OS thread for the rest of
// its life (the thread is discarded when the goroutine ends), so that a
// measured loop is never migrated between threads by the Go scheduler.
func lockThread() { runtime.LockOSThread() }
