package check

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Definitions travel on a compacted Kafka topic, one record per check keyed
// by its id (a tombstone deletes it), so that every prober of a location sees
// the same checks: `picket apply` writes them, probers read them.

// DefinitionSchema names the record format in the picket-schema header.
const DefinitionSchema = "picket.checks.v1.Check"

// DefinitionContentType is the records' content-type header.
const DefinitionContentType = "application/yaml"

// MarshalDefinition encodes a loaded check for the definitions topic. A body
// read from body_file is inlined: the file is on the machine that applied it.
func MarshalDefinition(c Check) ([]byte, error) {
	if c.HTTP != nil && c.HTTP.BodyFile != "" {
		h := *c.HTTP
		h.Body, h.BodyFile = h.compiled.body, ""
		c.HTTP = &h
	}
	if c.Journey != nil {
		j := Journey{Steps: append([]Step(nil), c.Journey.Steps...)}
		for i := range j.Steps {
			if h := &j.Steps[i].HTTP; h.BodyFile != "" {
				h.Body, h.BodyFile = h.compiled.body, ""
			}
		}
		c.Journey = &j
	}
	return yaml.Marshal(c)
}

// UnmarshalDefinition decodes and validates one definition record.
func UnmarshalDefinition(b []byte) (Check, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Check
	if err := dec.Decode(&c); err != nil {
		return Check{}, fmt.Errorf("check definition: %w", err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return Check{}, fmt.Errorf("check definition %s: %w", c.ID, err)
	}
	return c, nil
}
