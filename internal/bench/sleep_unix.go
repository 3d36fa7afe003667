//go:build unix

package bench

import (
	"syscall"
	"time"
)

// threadSleep sleeps d in nanosleep, blocking its thread (the runtime
// hands the goroutine's P to another thread meanwhile): finer than a Go
// timer, whose wait is rounded up to whole milliseconds.
func threadSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	syscall.Nanosleep(&ts, nil)
}
