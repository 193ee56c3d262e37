package check

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// Definitions travel on a compacted Kafka topic, one record per check keyed
// by its id (a tombstone deletes it), so that every prober of a location sees
// the same checks: `picket apply` writes them, probers read them.
//
// A definition is the check as written, validated but not compiled: secrets
// stay the names of environment variables (password_env, bearer_token_env)
// and ca_file stays a path, both resolved by the prober that runs the check
// (Compile), never by the machine that applied it. Only body_file is inlined:
// it is part of the checks as code, next to the checks file.

// DefinitionSchema names the record format in the picket-schema header.
const DefinitionSchema = "picket.checks.v1.Check"

// DefinitionContentType is the records' content-type header.
const DefinitionContentType = "application/yaml"

// LoadDefinitions reads a checks file to publish: it decodes and validates
// it without compiling (Decode) and inlines each body_file. It needs none of
// the probers' secrets or CA files.
func LoadDefinitions(path string) ([]Check, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checks file: %w", err)
	}
	checks, err := Decode(b)
	if err == nil {
		for i := range checks {
			if err = checks[i].InlineBodyFiles(); err != nil {
				err = fmt.Errorf("%s: %w", checkName(i, checks[i].ID), err)
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("checks file %s: %w", path, err)
	}
	return checks, nil
}

// InlineBodyFiles replaces each body_file of c (its HTTP request or journey
// steps) with the file's contents as body.
func (c *Check) InlineBodyFiles() error {
	inline := func(field string, h *HTTP) error {
		if h.BodyFile == "" {
			return nil
		}
		b, err := os.ReadFile(h.BodyFile)
		if err != nil {
			return fmt.Errorf("%s.body_file: %w", field, err)
		}
		h.Body, h.BodyFile = string(b), ""
		return nil
	}
	if c.HTTP != nil {
		if err := inline("http", c.HTTP); err != nil {
			return err
		}
	}
	if c.Journey != nil {
		for i := range c.Journey.Steps {
			if err := inline(fmt.Sprintf("journey.steps[%d]", i), &c.Journey.Steps[i].HTTP); err != nil {
				return err
			}
		}
	}
	return nil
}

// MarshalDefinition encodes a check for the definitions topic. A body_file
// must have been read: by InlineBodyFiles, or by Compile (its body is
// inlined then).
func MarshalDefinition(c Check) ([]byte, error) {
	if c.HTTP != nil && c.HTTP.BodyFile != "" {
		if !c.HTTP.isCompiled() {
			return nil, fmt.Errorf("check %s: http.body_file %s is not read", c.ID, c.HTTP.BodyFile)
		}
		h := *c.HTTP
		h.Body, h.BodyFile = h.compiled.body, ""
		c.HTTP = &h
	}
	if c.Journey != nil {
		j := Journey{Steps: append([]Step(nil), c.Journey.Steps...)}
		for i := range j.Steps {
			if h := &j.Steps[i].HTTP; h.BodyFile != "" {
				if !h.isCompiled() {
					return nil, fmt.Errorf("check %s: journey.steps[%d].body_file %s is not read", c.ID, i, h.BodyFile)
				}
				h.Body, h.BodyFile = h.compiled.body, ""
			}
		}
		c.Journey = &j
	}
	return yaml.Marshal(c)
}

// UnmarshalDefinition decodes and validates one definition record. It is
// pure, like Decode: the prober compiles the check where it runs it.
func UnmarshalDefinition(b []byte) (Check, error) {
	var c Check
	if err := decodeStrict(b, &c); err != nil {
		return Check{}, fmt.Errorf("check definition: %w", err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return Check{}, fmt.Errorf("check definition %s: %w", c.ID, err)
	}
	return c, nil
}
