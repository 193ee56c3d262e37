package config

import "testing"

// FuzzLoad feeds arbitrary YAML, a PICKET_ variable and a --set value to
// the loader: it may refuse them, never panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("name: a\nkafka:\n  brokers: [a:9092, b:9092]\n  partitions: 3\n"), "KAFKA__BROKERS=a:1, b:2", "kafka.password=s3cr,et")
	f.Add([]byte("rules:\n  availability: {window: 30s, threshold: 0.9}\n  latency: {threshold: 1}\n"), "RULES__X__WINDOW=1m", "ports=80,443")
	f.Add([]byte("kafka: [1, 2]\nports: {a: b}\n"), "PORTS=1,,x", "rules.x.window=5sec")
	f.Add([]byte("timeout: 5sec\nkafka:\n  brokerz: x\n"), "KAFKA=", "=")
	f.Add([]byte("&a [*a]"), "__=1", "kafka=1")
	f.Add([]byte("rules: ~\nkafka: {brokers: 'a, b'}\nname: !!binary aGk=\n"), "NAME=a,b", "rules=")
	f.Add([]byte("\xff\xfe"), "", "")
	f.Fuzz(func(t *testing.T, file []byte, env, set string) {
		var c testConfig
		src := Source{File: "fuzz.yaml", Environ: []string{EnvPrefix + env}, Sets: []string{set}}
		_ = load(&c, testDefaults(), src, file)
	})
}
