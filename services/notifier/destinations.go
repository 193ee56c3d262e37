package notifier

import (
	"fmt"

	"github.com/picket-dev/picket/services/notifier/deliver"
)

// validateDestinations checks destinations[], safety and links; names holds
// the webhooks' names already taken.
func (c Config) validateDestinations(names map[string]bool) error {
	for i, d := range c.Destinations {
		key := fmt.Sprintf("destinations[%d]", i)
		if err := d.Validate(key); err != nil {
			return err
		}
		if names[d.Name] {
			return fmt.Errorf("%s.name: %q is used twice", key, d.Name)
		}
		names[d.Name] = true
	}
	if err := c.Safety.Validate("safety.allow"); err != nil {
		return err
	}
	if err := c.Links.Validate(); err != nil {
		return err
	}
	return nil
}

// Sinks builds the configured destinations, reading their secrets.
func Sinks(cfg Config, o deliver.Options) ([]deliver.Sink, error) {
	o.Safety, o.Links = cfg.Safety, cfg.Links
	var sinks []deliver.Sink
	for i, w := range cfg.Webhooks {
		s, err := deliver.LegacyWebhook(fmt.Sprintf("webhooks[%d]", i), w.Name, w.URL, w.Secret, w.Timeout, o)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	for i, d := range cfg.Destinations {
		s, err := deliver.Build(fmt.Sprintf("destinations[%d]", i), d, o)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}
