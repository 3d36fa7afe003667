//go:build !linux

package commitlog

// prioritize does nothing where thread priorities are not set (see the
// Linux version).
func (l *Log) prioritize() (done func()) { return func() {} }
