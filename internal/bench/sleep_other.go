//go:build !unix

package bench

import "time"

// threadSleep sleeps d on a Go timer where nanosleep is not available.
func threadSleep(d time.Duration) { time.Sleep(d) }
