package commitlog

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// prioritize runs the calling goroutine (the flusher) on an OS thread of its
// own with the nice value asked for, so that under CPU contention its
// writes and fsyncs, on which every durable acknowledgement waits, are not
// held up behind other runnable threads. The thread stays locked: when the
// flusher returns, the Go runtime ends the thread rather than hand its
// priority to other goroutines. The returned function is for the caller to
// defer; it unlocks only a thread whose priority was left unchanged. A
// nice value the process may not set (a negative one needs CAP_SYS_NICE or
// RLIMIT_NICE) is logged and ignored.
func (l *Log) prioritize() (done func()) {
	if l.opts.FlusherNice == 0 {
		return func() {}
	}
	runtime.LockOSThread()
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), l.opts.FlusherNice); err != nil {
		l.opts.Logger.Info("could not set the flusher thread's priority; it runs at the process's",
			"dir", l.opts.Dir, "nice", l.opts.FlusherNice, "err", err)
		return runtime.UnlockOSThread
	}
	return func() {}
}
