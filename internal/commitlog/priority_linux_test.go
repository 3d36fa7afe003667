package commitlog

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// canRaisePriority reports whether this process may give a thread a
// negative nice value (root without CAP_SYS_NICE, as in a default Docker
// container, may not).
func canRaisePriority() bool {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, -1); err != nil {
		return false
	}
	unix.Setpriority(unix.PRIO_PROCESS, tid, 0) // raising it back is always allowed
	return true
}
