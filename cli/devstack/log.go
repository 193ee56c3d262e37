package devstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"

	"github.com/picket-dev/picket/platform/telemetry"
)

// LogConfig is telemetry's log configuration plus the level of the libraries'
// own lines: franz-go logs ~35 INFO lines in the first 300 ms of a dev stack
// (one per client, connection and group step), which push the banner off the
// screen while saying nothing a newcomer acts on.
type LogConfig struct {
	// Format is text, json or auto (text on a terminal).
	Format string `koanf:"format"`
	// Level is Picket's own lines' level: debug, info, warn or error.
	Level string `koanf:"level"`
	// LibraryLevel is the level of the lines of libraries Picket uses
	// (franz-go): warn by default.
	LibraryLevel string `koanf:"library_level"`
}

// DefaultLog is dev's default: Picket's lines at info, the libraries' at warn.
func DefaultLog() LogConfig {
	d := telemetry.DefaultLog()
	return LogConfig{Format: d.Format, Level: d.Level, LibraryLevel: "warn"}
}

func (c LogConfig) telemetry() telemetry.LogConfig {
	return telemetry.LogConfig{Format: c.Format, Level: c.Level}
}

// Validate names the offending key.
func (c LogConfig) Validate() error {
	if err := c.telemetry().Validate(); err != nil {
		return err
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LibraryLevel)); err != nil {
		return fmt.Errorf("log.library_level: %q is not one of debug, info, warn, error", c.LibraryLevel)
	}
	return nil
}

// NewLogger returns dev's logger writing to w: Picket's lines at c.Level,
// the libraries' at c.LibraryLevel.
func NewLogger(c LogConfig, w io.Writer) *slog.Logger {
	var own, lib slog.Level
	_ = own.UnmarshalText([]byte(c.Level))
	_ = lib.UnmarshalText([]byte(c.LibraryLevel))
	// The inner handler lets everything through; the filter decides.
	tc := c.telemetry()
	tc.Level = slog.LevelDebug.String()
	inner := telemetry.NewLogger(tc, w).Handler()
	return slog.New(&libraryFilter{inner: inner, own: own, lib: lib})
}

// libraryFilter applies one level to Picket's records and another to those
// logged from a library's package (by the caller's program counter: franz-go
// logs through kslog, whose Log method is the record's caller).
type libraryFilter struct {
	inner    slog.Handler
	own, lib slog.Level
}

// libraryPrefixes are the packages whose records are the libraries'.
var libraryPrefixes = []string{"github.com/twmb/franz-go/"}

func (f *libraryFilter) Enabled(_ context.Context, l slog.Level) bool { return l >= min(f.own, f.lib) }

func (f *libraryFilter) Handle(ctx context.Context, r slog.Record) error {
	level := f.own
	if fromLibrary(r.PC) {
		level = f.lib
	}
	if r.Level < level {
		return nil
	}
	return f.inner.Handle(ctx, r)
}

func (f *libraryFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return &libraryFilter{inner: f.inner.WithAttrs(as), own: f.own, lib: f.lib}
}

func (f *libraryFilter) WithGroup(name string) slog.Handler {
	return &libraryFilter{inner: f.inner.WithGroup(name), own: f.own, lib: f.lib}
}

func fromLibrary(pc uintptr) bool {
	if pc == 0 {
		return false
	}
	fr, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	for _, p := range libraryPrefixes {
		if strings.HasPrefix(fr.Function, p) {
			return true
		}
	}
	return false
}
