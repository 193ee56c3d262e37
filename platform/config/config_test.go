package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

type testKafka struct {
	Brokers    []string `koanf:"brokers"`
	Password   string   `koanf:"password"`
	Topic      string   `koanf:"topic"`
	Partitions int      `koanf:"partitions"`
}

type testRule struct {
	Window    time.Duration `koanf:"window"`
	Threshold float64       `koanf:"threshold"`
}

type testConfig struct {
	Name    string              `koanf:"name"`
	Kafka   testKafka           `koanf:"kafka"`
	Ports   []int               `koanf:"ports"`
	Rules   map[string]testRule `koanf:"rules"`
	Timeout time.Duration       `koanf:"timeout"`
}

func (c testConfig) Validate() error {
	var errs Errors
	if c.Name == "" {
		errs.Addf("name", "must not be empty")
	}
	if c.Kafka.Partitions < 1 {
		errs.Addf("kafka.partitions", "%d, must be at least 1", c.Kafka.Partitions)
	}
	return errs.Err()
}

func testDefaults() testConfig {
	return testConfig{
		Name:    "picket",
		Kafka:   testKafka{Brokers: []string{"127.0.0.1:9092"}, Topic: "results", Partitions: 6},
		Rules:   map[string]testRule{"availability": {Window: time.Minute, Threshold: 0.8}},
		Timeout: 10 * time.Second,
	}
}

func TestLoadEnvironmentAndSets(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		sets    []string
		want    func(*testConfig) // the change from the defaults
		err     string
	}{
		{name: "env string keeps its commas", environ: []string{"PICKET_KAFKA__PASSWORD=s3cr,et"},
			want: func(c *testConfig) { c.Kafka.Password = "s3cr,et" }},
		{name: "set string keeps its commas", sets: []string{"kafka.password=s3cr,et"},
			want: func(c *testConfig) { c.Kafka.Password = "s3cr,et" }},
		{name: "set string keeps its '=' and spaces", sets: []string{"name= a=b, c "},
			want: func(c *testConfig) { c.Name = " a=b, c " }},
		{name: "env list splits and trims", environ: []string{"PICKET_KAFKA__BROKERS=a:9092, b:9092"},
			want: func(c *testConfig) { c.Kafka.Brokers = []string{"a:9092", "b:9092"} }},
		{name: "set list splits", sets: []string{"kafka.brokers=a:9092,b:9092"},
			want: func(c *testConfig) { c.Kafka.Brokers = []string{"a:9092", "b:9092"} }},
		{name: "one-item list", environ: []string{"PICKET_KAFKA__BROKERS=a:9092"},
			want: func(c *testConfig) { c.Kafka.Brokers = []string{"a:9092"} }},
		{name: "list of numbers", sets: []string{"ports=80, 443"},
			want: func(c *testConfig) { c.Ports = []int{80, 443} }},
		{name: "nested key with __", environ: []string{"PICKET_RULES__AVAILABILITY__WINDOW=30s"},
			want: func(c *testConfig) { c.Rules["availability"] = testRule{Window: 30 * time.Second, Threshold: 0.8} }},
		{name: "new map entry from --set", sets: []string{"rules.latency.threshold=0.5"},
			want: func(c *testConfig) { c.Rules["latency"] = testRule{Threshold: 0.5} }},
		{name: "number and duration", environ: []string{"PICKET_KAFKA__PARTITIONS=3"}, sets: []string{"timeout=2s"},
			want: func(c *testConfig) { c.Kafka.Partitions, c.Timeout = 3, 2*time.Second }},
		{name: "other variables ignored", environ: []string{"HOME=/root", "PICKETX=1"},
			want: func(*testConfig) {}},
		{name: "another program's shared section in the environment is ignored",
			environ: []string{"PICKET_CLICKHOUSE__PASSWORD=x", "PICKET_LOG__LEVEL=debug"},
			want:    func(*testConfig) {}},
		{name: "the CLI's query API token and address in the environment are ignored",
			environ: []string{"PICKET_TOKEN=token-a-0123456789abcdef", "PICKET_QUERY_URL=http://127.0.0.1:8080"},
			want:    func(*testConfig) {}},
		{name: "a shared section given as --set is still refused", sets: []string{"clickhouse.password=x"},
			err: `config: unknown key "clickhouse"`},
		{name: "an unknown section in the environment is refused", environ: []string{"PICKET_KAFAK__BROKERS=a:9092"},
			err: `config: unknown key "kafak"`},
		{name: "unknown env key", environ: []string{"PICKET_KAFKA__BROKRS=a:9092"},
			err: `config: unknown key "kafka.brokrs"`},
		{name: "unknown set keys", sets: []string{"kafka.topik=x", "nam=y"},
			err: `config: unknown key "kafka.topik", "nam"`},
		{name: "set without =", sets: []string{"kafka.topic"},
			err: `--set "kafka.topic": want key=value`},
		{name: "list item of the wrong type", sets: []string{"ports=80,http"},
			err: `config: ports[1]: cannot parse value as 'int': strconv.ParseInt: invalid syntax`},
		{name: "invalid duration", environ: []string{"PICKET_TIMEOUT=5sec"},
			err:// mapstructure leaves the value out: it could be a secret.
			`config: timeout: time: unknown unit`},
		{name: "validation names the key", environ: []string{"PICKET_KAFKA__PARTITIONS=0"},
			err: "config: kafka.partitions: 0, must be at least 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got testConfig
			err := Load(&got, testDefaults(), Source{Environ: tc.environ, Sets: tc.sets})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v\nwant  %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := testDefaults()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// Each layer overrides the ones before it: defaults → file → environment → --set.
func TestLoadPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	yaml := "name: from-file\nkafka:\n  topic: from-file\n  partitions: 2\n  password: 'file,pass'\n  brokers: [f1:9092, f2:9092]\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var got testConfig
	err := Load(&got, testDefaults(), Source{
		File:    file,
		Environ: []string{"PICKET_KAFKA__TOPIC=from-env", "PICKET_KAFKA__PARTITIONS=3"},
		Sets:    []string{"kafka.partitions=4"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := testDefaults()
	want.Name = "from-file"
	want.Kafka = testKafka{Brokers: []string{"f1:9092", "f2:9092"}, Password: "file,pass", Topic: "from-env", Partitions: 4}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	var got testConfig
	if err := Load(&got, testDefaults(), Source{File: missing}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("kafka:\n  brokerz: [a]\n"), 0o600)
	if err := Load(&got, testDefaults(), Source{File: bad}); err == nil || err.Error() != `config: unknown key "kafka.brokerz"` {
		t.Fatalf("unknown key in the file: %v", err)
	}
}
