// Package telemetry builds the process's slog logger and Prometheus registry.
// It holds no global state: each process creates one of each and passes them down.
package telemetry

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// LogConfig selects the log format and level.
type LogConfig struct {
	// Format is "json", "text", or "auto" (text on a terminal, JSON otherwise,
	// which is what containers get).
	Format string `koanf:"format"`
	// Level is debug, info, warn or error.
	Level string `koanf:"level"`
}

// DefaultLog is the default logging configuration.
func DefaultLog() LogConfig { return LogConfig{Format: "auto", Level: "info"} }

// Validate names the offending key.
func (c LogConfig) Validate() error {
	switch c.Format {
	case "auto", "json", "text":
	default:
		return fmt.Errorf("log.format: %q is not one of auto, json, text", c.Format)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Level)
	}
	return nil
}

// NewLogger returns a logger writing to w in the configured format.
func NewLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	format := c.Format
	if format == "auto" || format == "" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if strings.EqualFold(format, "text") {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// NewRegistry returns a Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
