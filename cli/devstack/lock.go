package devstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir takes an exclusive lock on dir for this process, so a second
// `picket dev` on the same data directory stops with a clear message before
// kfake and libchdb fight over its files. The lock goes with the process,
// also when it is killed.
func lockDataDir(dir string) (unlock func() error, err error) {
	path := filepath.Join(dir, "picket-dev.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			by := ""
			if pid := strings.TrimSpace(string(owner)); pid != "" {
				by = " (pid " + pid + ")"
			}
			return nil, fmt.Errorf("data_dir %s is in use by another `picket dev`%s: stop it, or give this one another data_dir", dir, by)
		}
		return nil, fmt.Errorf("data_dir %s: lock %s: %w", dir, path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() error {
		f.Truncate(0)
		return f.Close() // closing releases the lock
	}, nil
}
