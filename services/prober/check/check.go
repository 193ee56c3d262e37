// Package check defines what a check is and loads check files.
//
// A check file is YAML with a list of checks; an invalid file is refused as a
// whole with an error naming the file, the check and the field, so a typo can
// never silently stop a check from running.
package check

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Check is one scheduled probe.
type Check struct {
	ID       string        `yaml:"id"`
	Name     string        `yaml:"name"`
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one run; it must be below Interval so runs never overlap.
	Timeout time.Duration `yaml:"timeout"`
	HTTP    *HTTP         `yaml:"http"`
}

// Type names the probe kind.
func (c Check) Type() string {
	switch {
	case c.HTTP != nil:
		return "http"
	}
	return ""
}

// HTTP is an HTTP(S) request and what counts as success.
type HTTP struct {
	Method  string            `yaml:"method"`
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	// ExpectedStatus lists the statuses that count as success. A synthetic
	// client sends well-formed, authorised requests, so the default is 200 only.
	ExpectedStatus []int `yaml:"expected_status"`
}

// File is a check file.
type File struct {
	Checks []Check `yaml:"checks"`
}

// Defaults applied to a check that leaves them out.
const (
	DefaultInterval = 30 * time.Second
	DefaultTimeout  = 10 * time.Second
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// Load reads and validates a check file.
func Load(path string) ([]Check, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checks file: %w", err)
	}
	checks, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("checks file %s: %w", path, err)
	}
	return checks, nil
}

// Parse decodes and validates a check file's contents, applying defaults.
func Parse(b []byte) ([]Check, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	seen := map[string]int{}
	for i := range f.Checks {
		c := &f.Checks[i]
		c.applyDefaults()
		if err := c.Validate(); err != nil {
			if c.ID != "" {
				return nil, fmt.Errorf("checks[%d] (%s): %w", i, c.ID, err)
			}
			return nil, fmt.Errorf("checks[%d]: %w", i, err)
		}
		if j, dup := seen[c.ID]; dup {
			return nil, fmt.Errorf("checks[%d]: id %q is also used by checks[%d]", i, c.ID, j)
		}
		seen[c.ID] = i
	}
	return f.Checks, nil
}

func (c *Check) applyDefaults() {
	if c.Name == "" {
		c.Name = c.ID
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = min(DefaultTimeout, c.Interval*4/5)
	}
	if h := c.HTTP; h != nil {
		if h.Method == "" {
			h.Method = http.MethodGet
		}
		h.Method = strings.ToUpper(h.Method)
		if len(h.ExpectedStatus) == 0 {
			h.ExpectedStatus = []int{http.StatusOK}
		}
	}
}

var methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions,
}

// Validate reports the first invalid field, by its YAML name.
func (c Check) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("id: required")
	case !idPattern.MatchString(c.ID):
		return fmt.Errorf("id: %q must be lower-case letters, digits, '.', '_' or '-' (at most 128)", c.ID)
	case c.Interval < 10*time.Millisecond:
		return fmt.Errorf("interval: %s is below the minimum of 10ms", c.Interval)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout: %s must be positive", c.Timeout)
	case c.Timeout >= c.Interval:
		return fmt.Errorf("timeout: %s must be below interval %s so runs never overlap", c.Timeout, c.Interval)
	case c.HTTP == nil:
		return errors.New("http: required (the only check type so far)")
	}
	h := c.HTTP
	u, err := url.Parse(h.URL)
	switch {
	case h.URL == "":
		return errors.New("http.url: required")
	case err != nil:
		return fmt.Errorf("http.url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("http.url: %q must be an http or https URL", h.URL)
	case u.Host == "":
		return fmt.Errorf("http.url: %q has no host", h.URL)
	case !slices.Contains(methods, h.Method):
		return fmt.Errorf("http.method: %q is not one of %s", h.Method, strings.Join(methods, ", "))
	}
	for i, s := range h.ExpectedStatus {
		if s < 100 || s > 599 {
			return fmt.Errorf("http.expected_status[%d]: %d is not an HTTP status", i, s)
		}
	}
	for k := range h.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return fmt.Errorf("http.headers: %q is not a valid header name", k)
		}
	}
	return nil
}
