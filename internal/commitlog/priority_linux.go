package commitlog

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// prioritize runs the calling goroutine (the flusher) on an OS thread of its
// own with the nice value asked for, so that under CPU contention its
// writes and fsyncs, on which every durable acknowledgement waits, are not
// held up behind other runnable threads. The returned function, for the
// flusher to defer, puts the thread's own nice value back (raising a nice
// value is always allowed) and unlocks it, so that no other goroutine
// inherits the priority. A nice value the process may not set (a negative
// one needs CAP_SYS_NICE or RLIMIT_NICE) is logged and ignored.
func (l *Log) prioritize() (done func()) {
	if l.opts.FlusherNice == 0 {
		return func() {}
	}
	runtime.LockOSThread()
	tid := unix.Gettid()
	// getpriority's raw value is 20 - nice (never negative).
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err == nil {
		err = unix.Setpriority(unix.PRIO_PROCESS, tid, l.opts.FlusherNice)
	}
	if err != nil {
		l.opts.Logger.Info("could not set the flusher thread's priority; it runs at the process's",
			"dir", l.opts.Dir, "nice", l.opts.FlusherNice, "err", err)
		return runtime.UnlockOSThread
	}
	return func() {
		unix.Setpriority(unix.PRIO_PROCESS, tid, 20-prio)
		runtime.UnlockOSThread()
	}
}
