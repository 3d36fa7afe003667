package server

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

var stderr = os.Stderr

// FreeSpace returns the bytes available to unprivileged users on the file
// system holding dir (statfs f_bavail × f_bsize).
func FreeSpace(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

// diskLoop checks free space every disk_check_interval until Shutdown.
func (s *Server) diskLoop() {
	defer s.wg.Done()
	t := time.NewTicker(time.Duration(s.cfg.DiskCheckInterval))
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			s.checkDisk()
		}
	}
}

// checkDisk measures free space and turns read-only mode on below
// min_free_disk_bytes, off at or above it. A failed measurement changes
// nothing (it is logged): a monitoring hiccup must not stop writes.
func (s *Server) checkDisk() {
	free, err := s.free(s.cfg.Data)
	if err != nil {
		if !s.diskErrLogged {
			s.logger.Warn("cannot measure free disk space", "dir", s.cfg.Data, "err", err)
			s.diskErrLogged = true
		}
		return
	}
	s.diskErrLogged = false
	s.freeBytes.Store(free)
	s.freeKnown.Store(true)
	min := uint64(s.cfg.MinFreeDiskBytes)
	low := min > 0 && free < min
	if low == s.api.ReadOnly() {
		return
	}
	s.api.SetReadOnly(low)
	if low {
		s.logger.Warn("free disk space below min_free_disk_bytes: read-only, appends get 503",
			"dir", s.cfg.Data, "free_bytes", free, "min_free_disk_bytes", min)
	} else {
		s.logger.Info("free disk space back above min_free_disk_bytes: writes resume",
			"dir", s.cfg.Data, "free_bytes", free, "min_free_disk_bytes", min)
	}
}
