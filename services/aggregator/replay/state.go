package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is bumped when the state file's meaning changes.
const stateVersion = 1

// State is a replay's checkpoint: what it replays and how far each partition
// is durable. It is rewritten atomically after every durable batch, so the
// file on disk never claims more than ClickHouse holds.
type State struct {
	Version  int    `json:"version"`
	Topic    string `json:"topic"`
	Database string `json:"database"`
	// Spec is the range as it was asked for (e.g. "--from 24h"); with Topic
	// and Database it is what a rerun must match to resume.
	Spec string `json:"spec"`
	// From and To are the resolved range; To is zero when the replay runs to
	// the end offsets the partitions had when it started.
	From       time.Time        `json:"from"`
	To         time.Time        `json:"to,omitzero"`
	Partitions []PartitionState `json:"partitions"`
	// Counts over every run of this replay.
	Records    int64     `json:"records"`
	Decoded    int64     `json:"decoded"`
	Skipped    int64     `json:"skipped"`
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// PartitionState is one partition's offsets: [Start, End) is the range,
// Next the first offset not yet durable.
type PartitionState struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
	Next      int64 `json:"next"`
}

// Finished reports whether the replay has finished.
func (s *State) Finished() bool { return !s.FinishedAt.IsZero() }

// Offsets sums the offsets of the range (total) and those durable (done)
// over the partitions.
func (s *State) Offsets() (done, total int64) {
	for _, p := range s.Partitions {
		total += p.End - p.Start
		done += min(p.Next, p.End) - p.Start
	}
	return done, total
}

// same reports whether s is a replay of the same thing as o.
func (s *State) same(topic, database, spec string) bool {
	return s.Topic == topic && s.Database == database && s.Spec == spec
}

// LoadState reads the state file at path; it returns (nil, nil) when there is
// none.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replay state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("replay state %s: %w", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("replay state %s: version %d, this picket reads version %d", path, s.Version, stateVersion)
	}
	return &s, nil
}

// save writes s to path atomically: a temporary file in the same directory,
// synced, then renamed over the old one, and the directory synced, so a crash
// leaves either the previous checkpoint or this one.
func (s *State) save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("replay state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("replay state %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: not every file system syncs directories
		d.Close()
	}
	return nil
}
