// Package logtest holds what tests need to read what a component logged.
// It is for tests only: nothing in a service may import it.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that a logger writing from several goroutines and
// the test reading it may share.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
