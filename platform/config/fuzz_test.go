package config

import "testing"

// FuzzLoad feeds arbitrary YAML (and a --set value) to the loader: it may
// refuse them, never panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("name: a\nkafka:\n  brokers: [a:9092, b:9092]\n  partitions: 3\n"), "kafka.password=s3cr,et")
	f.Add([]byte("rules:\n  availability: {window: 30s, threshold: 0.9}\n  latency: {threshold: 1}\n"), "ports=80,443")
	f.Add([]byte("kafka: [1, 2]\nports: {a: b}\n"), "rules.x.window=5sec")
	f.Add([]byte("timeout: 5sec\nkafka:\n  brokerz: x\n"), "=")
	f.Add([]byte("&a [*a]"), "kafka=1")
	f.Add([]byte("rules: ~\nkafka: {brokers: 'a, b'}\nname: !!binary aGk=\n"), "rules=")
	f.Add([]byte("\xff\xfe"), "")
	f.Fuzz(func(t *testing.T, file []byte, set string) {
		var c testConfig
		_ = load(&c, testDefaults(), Source{File: "fuzz.yaml", Sets: []string{set}}, file)
	})
}
