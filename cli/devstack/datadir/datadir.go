// Package datadir is a `picket dev` data directory's lock and the note, next
// to it, that says how to reach the stack running on it: the picket CLI reads
// it to run replay, backtest and migrate against a running dev stack, and
// takes the same lock to open a stopped one's data itself.
//
// It must link neither libchdb nor kfake: the production picket (which has
// neither) uses it to find a running dev stack.
package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	// LockFile is held (flock) by the process using the data directory;
	// it holds that process's pid and what it is.
	LockFile = "picket-dev.lock"
	// InfoFile says how to reach the stack running on the data directory
	// (readable by its owner only: it holds the operations token).
	InfoFile = "picket-dev.json"
)

// Info is what a running `picket dev` writes to InfoFile. OpsURL and Token
// are cleared when it stops (and stale after a kill: the lock says whether
// the stack runs); Database and ResultsTopic stay for the next opener.
type Info struct {
	PID int `json:"pid"`
	// OpsURL serves the operations API (replay, backtest, migrate) on
	// loopback; each request carries Token.
	OpsURL    string `json:"ops_url,omitempty"`
	Token     string `json:"token,omitempty"`
	KafkaAddr string `json:"kafka_addr,omitempty"`
	// QueryURL is the stack's query API (picket status reads it).
	QueryURL     string `json:"query_url,omitempty"`
	Database     string `json:"database"`
	ResultsTopic string `json:"results_topic"`
}

// Lock takes an exclusive lock on dir for this process, so a second `picket
// dev` (or a picket command opening a stopped stack's data) on the same data
// directory stops with a clear message before kfake and libchdb fight over
// its files. what names the holder in that message ("picket dev"). The lock
// goes with the process, also when it is killed.
func Lock(dir, what string) (unlock func() error, err error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data_dir %s is in use by %s: stop it, or give this one another data_dir", dir, holder(string(owner)))
		}
		return nil, fmt.Errorf("data_dir %s: lock %s: %w", dir, path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+" "+what+"\n"), 0)
	}
	return func() error {
		f.Truncate(0)
		return f.Close() // closing releases the lock
	}, nil
}

// holder describes the lock file's owner line "PID WHAT" ("PID" alone in
// older data directories).
func holder(owner string) string {
	pid, what, _ := strings.Cut(strings.TrimSpace(owner), " ")
	if what == "" {
		what = "picket dev"
	}
	if pid == "" {
		return "another `" + what + "`"
	}
	return "another `" + what + "` (pid " + pid + ")"
}

// State is what a data directory holds.
type State struct {
	// IsDataDir: the directory has a lock file, so a `picket dev` used it.
	IsDataDir bool
	// Running: a process holds the lock; Holder says which ("another
	// `picket dev` (pid 12)") and HolderPID is its pid (0 if unknown).
	Running   bool
	Holder    string
	HolderPID int
	Info      Info
}

// Inspect says whether dir is a dev stack's data directory and whether
// something runs on it. It never takes the lock for longer than the test.
func Inspect(dir string) (State, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("data_dir %s: %w", dir, err)
	}
	defer f.Close()
	st := State{IsDataDir: true}
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); {
	case errors.Is(err, syscall.EWOULDBLOCK):
		st.Running = true
		owner, _ := os.ReadFile(path)
		st.Holder = holder(string(owner))
		pid, _, _ := strings.Cut(strings.TrimSpace(string(owner)), " ")
		st.HolderPID, _ = strconv.Atoi(pid)
	case err != nil:
		return State{}, fmt.Errorf("data_dir %s: lock %s: %w", dir, path, err)
	default:
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	}
	b, err := os.ReadFile(filepath.Join(dir, InfoFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return State{}, fmt.Errorf("data_dir %s: %w", dir, err)
	default:
		if err := json.Unmarshal(b, &st.Info); err != nil {
			return State{}, fmt.Errorf("data_dir %s: %s: %w", dir, InfoFile, err)
		}
	}
	return st, nil
}

// WriteInfo replaces dir's InfoFile with info (atomically: a reader sees the
// old note or the new one).
func WriteInfo(dir string, info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	// CreateTemp makes a new file, mode 0600, every time: a leftover temp
	// file from a crash keeps no looser mode for the token.
	f, err := os.CreateTemp(dir, InfoFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	_, werr := f.Write(append(b, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), filepath.Join(dir, InfoFile))
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("data_dir %s: %w", dir, werr)
	}
	return nil
}
