// Package deploytest checks the docker compose deployment (docker-compose.yml,
// deploy/, Dockerfile) against the code it runs: every service's
// configuration loads with that service's own loader, with the environment
// and flags compose gives it; ports, health checks, scrape targets and
// volumes agree with those configurations; the alert rules and the Grafana
// dashboard name metrics and columns that exist. No Docker engine is needed:
// it is what can be verified of the deployment on a machine without one.
package deploytest

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/picket-dev/picket/platform/config"
	"github.com/picket-dev/picket/platform/kafka"
	"github.com/picket-dev/picket/platform/store/clickhouse"
	"github.com/picket-dev/picket/services/aggregator"
	"github.com/picket-dev/picket/services/notifier"
	"github.com/picket-dev/picket/services/prober"
	"github.com/picket-dev/picket/services/prober/check"
	"github.com/picket-dev/picket/services/query"
)

const root = "../../.."

// composeFile is the part of docker-compose.yml these tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Restart     string            `yaml:"restart"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
	Target     string `yaml:"target"`
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// interpolation matches compose's ${VAR}, ${VAR:-default} and ${VAR-default}.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}`)

// loadCompose parses docker-compose.yml with every variable at its default,
// as `docker compose up` sees it with an empty environment.
func loadCompose(t *testing.T) composeFile {
	t.Helper()
	text := readFile(t, "docker-compose.yml")
	text = strings.ReplaceAll(text, "$$", "\x00")
	text = interpolation.ReplaceAllString(text, "$2")
	text = strings.ReplaceAll(text, "\x00", "$")
	var c composeFile
	if err := yaml.Unmarshal([]byte(text), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// source is the configuration a container gets: the deploy/ file mounted at
// its --config path, its environment and its --set flags.
func source(t *testing.T, svc composeService) config.Source {
	t.Helper()
	src := config.Source{Environ: []string{}}
	for i := 0; i < len(svc.Command); i++ {
		switch svc.Command[i] {
		case "--config":
			src.File = hostPath(t, svc, svc.Command[i+1])
			i++
		case "--set":
			src.Sets = append(src.Sets, svc.Command[i+1])
			i++
		}
	}
	for k, v := range svc.Environment {
		src.Environ = append(src.Environ, k+"="+v)
	}
	sort.Strings(src.Environ)
	return src
}

// hostPath is the file of the repository that svc mounts at containerPath.
func hostPath(t *testing.T, svc composeService, containerPath string) string {
	t.Helper()
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == containerPath && strings.HasPrefix(parts[0], "./") {
			return filepath.Join(root, parts[0])
		}
	}
	t.Fatalf("nothing of the repository is mounted at %s (volumes %v)", containerPath, svc.Volumes)
	return ""
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// service is what compose runs of one Picket service, as its loader reads it.
type service struct {
	name      string
	adminAddr string
	brokers   []string
	// clickhouse is nil for the services that do not use it.
	clickhouse *clickhouse.Config
}

// loadServices loads each service's configuration exactly as its main does,
// from the file, environment and flags compose gives its container. An
// unknown key anywhere (a typo in deploy/*.yaml, a PICKET_ variable that is
// not a key) fails the load.
func loadServices(t *testing.T, c composeFile) []service {
	t.Helper()
	get := func(name string) config.Source {
		svc, ok := c.Services[name]
		if !ok {
			t.Fatalf("docker-compose.yml has no service %q", name)
		}
		src := source(t, svc)
		if src.File == "" {
			t.Fatalf("%s: no --config file", name)
		}
		return src
	}
	var out []service
	{
		cfg := prober.DefaultConfig()
		if err := config.Load(&cfg, prober.DefaultConfig(), get("prober")); err != nil {
			t.Fatalf("prober: %v", err)
		}
		out = append(out, service{name: "prober", adminAddr: cfg.Admin.Addr, brokers: cfg.Kafka.Brokers})
	}
	{
		cfg := aggregator.DefaultConfig()
		if err := config.Load(&cfg, aggregator.DefaultConfig(), get("aggregator")); err != nil {
			t.Fatalf("aggregator: %v", err)
		}
		out = append(out, service{name: "aggregator", adminAddr: cfg.Admin.Addr, brokers: cfg.Kafka.Brokers, clickhouse: &cfg.ClickHouse})
	}
	{
		cfg := notifier.DefaultConfig()
		if err := config.Load(&cfg, notifier.DefaultConfig(), get("notifier")); err != nil {
			t.Fatalf("notifier: %v", err)
		}
		out = append(out, service{name: "notifier", adminAddr: cfg.Admin.Addr, brokers: cfg.Kafka.Brokers})
	}
	{
		cfg := query.DefaultConfig()
		if err := config.Load(&cfg, query.DefaultConfig(), get("query")); err != nil {
			t.Fatalf("query: %v", err)
		}
		out = append(out, service{name: "query", adminAddr: cfg.Admin.Addr, clickhouse: &cfg.ClickHouse})
	}
	return out
}

// Every deploy/*.yaml of a service loads with that service's loader, with the
// environment and flags compose passes, and points at the compose network's
// broker and server, with the credentials the ClickHouse container is given.
func TestComposeServiceConfigsLoad(t *testing.T) {
	c := loadCompose(t)
	chEnv := c.Services["clickhouse"].Environment
	for _, s := range loadServices(t, c) {
		if s.brokers != nil && !slices.Equal(s.brokers, []string{"kafka:19092"}) {
			t.Errorf("%s: kafka.brokers %v, want the INTERNAL listener kafka:19092", s.name, s.brokers)
		}
		if s.clickhouse != nil {
			if !slices.Equal(s.clickhouse.Addr, []string{"clickhouse:9000"}) {
				t.Errorf("%s: clickhouse.addr %v, want clickhouse:9000", s.name, s.clickhouse.Addr)
			}
			if s.clickhouse.Username != chEnv["CLICKHOUSE_USER"] || s.clickhouse.Password != chEnv["CLICKHOUSE_PASSWORD"] {
				t.Errorf("%s: clickhouse user %q password %q; the server's are %q %q", s.name,
					s.clickhouse.Username, s.clickhouse.Password, chEnv["CLICKHOUSE_USER"], chEnv["CLICKHOUSE_PASSWORD"])
			}
		}
	}

	// Every deploy/*.yaml is some service's configuration (and so is loaded
	// above), or one of the files with a loader of its own.
	files, _ := filepath.Glob(filepath.Join(root, "deploy", "*.yaml"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		switch name {
		case "prober", "aggregator", "notifier", "query":
		case "checks": // services/prober/check TestComposeChecksLoad
		default:
			t.Errorf("deploy/%s.yaml is loaded by no test", name)
		}
	}
}

// The init steps run the picket CLI, whose commands refuse unknown keys too:
// `picket apply` knows only the kafka section and `picket migrate` only the
// clickhouse one, so each must get only its own section's variables.
func TestComposeInitConfigsLoad(t *testing.T) {
	c := loadCompose(t)
	type applyConfig struct {
		Kafka kafka.Config `koanf:"kafka"`
	}
	type migrateConfig struct {
		ClickHouse clickhouse.Config `koanf:"clickhouse"`
	}
	topics := c.Services["topics"]
	if len(topics.Command) == 0 || topics.Command[0] != "apply" {
		t.Fatalf("topics runs %v, want picket apply (it creates the topics)", topics.Command)
	}
	apply := applyConfig{Kafka: kafka.DefaultConfig()}
	if err := config.Load(&apply, applyConfig{Kafka: kafka.DefaultConfig()}, source(t, topics)); err != nil {
		t.Fatalf("topics (picket apply): %v", err)
	}
	if !apply.Kafka.CreateTopics || !slices.Equal(apply.Kafka.Brokers, []string{"kafka:19092"}) {
		t.Fatalf("topics: create_topics %v brokers %v", apply.Kafka.CreateTopics, apply.Kafka.Brokers)
	}
	if f := hostPath(t, topics, topics.Command[2]); !strings.HasSuffix(f, "deploy/checks.yaml") {
		t.Fatalf("topics applies %s", f)
	}

	mig := c.Services["migrate"]
	if len(mig.Command) == 0 || mig.Command[0] != "migrate" {
		t.Fatalf("migrate runs %v", mig.Command)
	}
	m := migrateConfig{ClickHouse: clickhouse.DefaultConfig()}
	if err := config.Load(&m, migrateConfig{ClickHouse: clickhouse.DefaultConfig()}, source(t, mig)); err != nil {
		t.Fatalf("migrate (picket migrate): %v", err)
	}
	if !slices.Equal(m.ClickHouse.Addr, []string{"clickhouse:9000"}) || m.ClickHouse.Database != "picket" {
		t.Fatalf("migrate: clickhouse %+v", m.ClickHouse)
	}
	for _, name := range []string{"topics", "migrate"} {
		if r := c.Services[name].Restart; r != "no" {
			t.Errorf("%s: restart %q; a one-shot init must not restart", name, r)
		}
	}
}

// Health checks, ports, scrape targets and volumes agree with the loaded
// configurations: a service's health check and Prometheus target use its
// admin port; the query API's published port is its addr; the prober's spool
// is on a named volume.
func TestComposeAgreesWithConfigs(t *testing.T) {
	c := loadCompose(t)
	prom := readFile(t, "deploy/prometheus/prometheus.yml")
	for _, s := range loadServices(t, c) {
		svc := c.Services[s.name]
		p := port(t, s.adminAddr)
		want := "http://127.0.0.1:" + p + "/readyz"
		if svc.Healthcheck == nil || !slices.Contains(svc.Healthcheck.Test, want) {
			t.Errorf("%s: health check %v, want one on %s (admin.addr %s)", s.name, svc.Healthcheck, want, s.adminAddr)
		}
		if target := `"` + s.name + ":" + p + `"`; !strings.Contains(prom, target) {
			t.Errorf("%s: deploy/prometheus/prometheus.yml does not scrape %s", s.name, target)
		}
		if svc.Build == nil || svc.Build.Target != s.name {
			t.Errorf("%s: build %+v, want the Dockerfile target %q", s.name, svc.Build, s.name)
		}
	}

	qcfg := query.DefaultConfig()
	if err := config.Load(&qcfg, query.DefaultConfig(), source(t, c.Services["query"])); err != nil {
		t.Fatal(err)
	}
	if ports := c.Services["query"].Ports; len(ports) != 1 || !strings.HasSuffix(ports[0], ":"+port(t, qcfg.Addr)) {
		t.Errorf("query publishes %v; its addr is %s", ports, qcfg.Addr)
	}

	pcfg := prober.DefaultConfig()
	if err := config.Load(&pcfg, prober.DefaultConfig(), source(t, c.Services["prober"])); err != nil {
		t.Fatal(err)
	}
	if pcfg.Source != "kafka" {
		t.Errorf("prober source %q: with kafka it runs what `picket apply` publishes", pcfg.Source)
	}
	assertNamedVolume(t, c, "prober", pcfg.Outbox.Dir)
	assertNamedVolume(t, c, "kafka", c.Services["kafka"].Environment["KAFKA_LOG_DIRS"])
	assertNamedVolume(t, c, "clickhouse", "/var/lib/clickhouse")
}

func assertNamedVolume(t *testing.T, c composeFile, service, dir string) {
	t.Helper()
	for _, v := range c.Services[service].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == dir {
			if _, ok := c.Volumes[parts[0]]; ok {
				return
			}
		}
	}
	t.Errorf("%s: %s is on no named volume (volumes %v)", service, dir, c.Services[service].Volumes)
}

// Every long-running container has a health check, every dependency on one
// waits for it to be healthy, every dependency on a one-shot init waits for
// it to complete, and every Dockerfile target a service builds exists.
func TestComposeHealthAndOrder(t *testing.T) {
	c := loadCompose(t)
	dockerfile := readFile(t, "Dockerfile")
	for name, svc := range c.Services {
		oneShot := svc.Restart == "no"
		if !oneShot && svc.Healthcheck == nil {
			t.Errorf("%s: no health check", name)
		}
		for dep, d := range svc.DependsOn {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s depends on %s, which does not exist", name, dep)
				continue
			}
			want := "service_healthy"
			if target.Restart == "no" {
				want = "service_completed_successfully"
			}
			if d.Condition != want {
				t.Errorf("%s depends on %s with condition %q, want %q", name, dep, d.Condition, want)
			}
		}
		if svc.Build != nil && !regexp.MustCompile(`(?m)^FROM .* AS `+regexp.QuoteMeta(svc.Build.Target)+`$`).MatchString(dockerfile) {
			t.Errorf("%s builds Dockerfile target %q, which does not exist", name, svc.Build.Target)
		}
		if svc.Build == nil && (svc.Image == "" || strings.HasSuffix(svc.Image, ":latest") || !strings.Contains(svc.Image, ":")) {
			t.Errorf("%s: image %q is not pinned to a tag", name, svc.Image)
		}
	}
}

// The variables of docker-compose.yml are documented in the README, and none
// starts with PICKET_: Picket's commands read PICKET_* as configuration keys
// and refuse unknown ones, so a PICKET_QUERY_PORT exported for compose would
// break `picket apply` in the same shell.
func TestComposeVariablesDocumented(t *testing.T) {
	text := readFile(t, "docker-compose.yml")
	readme := readFile(t, "README.md")
	seen := map[string]bool{}
	for _, m := range interpolation.FindAllStringSubmatch(text, -1) {
		name := m[1]
		if seen[name] {
			continue
		}
		seen[name] = true
		if strings.HasPrefix(name, config.EnvPrefix) {
			t.Errorf("variable %s starts with %s", name, config.EnvPrefix)
		}
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("variable %s is not documented in README.md", name)
		}
	}
	if len(seen) == 0 {
		t.Fatal("no variables found in docker-compose.yml")
	}
}

// The alert rules and the Grafana dashboard name metrics the services
// register (a renamed metric would leave an alert that can never fire).
func TestMonitoringNamesRealMetrics(t *testing.T) {
	var code strings.Builder
	for _, dir := range []string{"services", "platform"} {
		err := filepath.Walk(filepath.Join(root, dir), func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				code.Write(b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	metric := regexp.MustCompile(`picket_[a-z0-9_]+`)
	for _, f := range []string{"deploy/prometheus/rules.yml", "deploy/grafana/dashboards/picket.json"} {
		names := metric.FindAllString(readFile(t, f), -1)
		if f == "deploy/prometheus/rules.yml" && len(names) == 0 {
			t.Fatalf("%s names no picket_ metric", f)
		}
		for _, n := range names {
			// Histograms and counters are queried by their series names.
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
			if !strings.Contains(code.String(), `"`+n+`"`) && !strings.Contains(code.String(), `"`+base+`"`) {
				t.Errorf("%s: metric %s is registered by no service", f, n)
			}
		}
	}
}

// The demo check that the topics init publishes (with `picket apply`'s own
// loader) probes the demo container's target port, and the notifier's
// webhook goes to its receiver port: the ports picket-demo listens on by
// default and that compose publishes.
func TestComposeDemoWiring(t *testing.T) {
	c := loadCompose(t)
	demo := c.Services["demo"]
	if len(demo.Command) != 0 {
		t.Fatalf("demo runs %v; the test assumes picket-demo's default addresses :8081 and :8082", demo.Command)
	}
	published := func(p string) {
		t.Helper()
		for _, port := range demo.Ports {
			if strings.HasSuffix(port, ":"+p) {
				return
			}
		}
		t.Errorf("demo does not publish %s (ports %v)", p, demo.Ports)
	}
	published("8081")
	published("8082")

	topics := c.Services["topics"]
	checks, err := check.LoadDefinitions(hostPath(t, topics, topics.Command[2]))
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) == 0 {
		t.Fatal("the topics init publishes no check")
	}
	for _, ch := range checks {
		if ch.HTTP == nil {
			continue
		}
		u, err := url.Parse(ch.HTTP.URL)
		if err != nil || u.Host != "demo:8081" {
			t.Errorf("check %s probes %s, not the demo target demo:8081", ch.ID, ch.HTTP.URL)
		}
	}

	n := notifier.DefaultConfig()
	if err := config.Load(&n, notifier.DefaultConfig(), source(t, c.Services["notifier"])); err != nil {
		t.Fatal(err)
	}
	if len(n.Webhooks) != 1 || n.Webhooks[0].URL != "http://demo:8082/hook" {
		t.Errorf("notifier webhooks %+v, want the demo receiver http://demo:8082/hook", n.Webhooks)
	}
}

// The build context leaves out the caches, data directories, binaries and
// history (without .dockerignore it was 625 MB, libchdb and ./data among it),
// and nothing the build stage compiles or embeds.
func TestDockerignore(t *testing.T) {
	lines := map[string]bool{}
	for _, l := range strings.Split(readFile(t, ".dockerignore"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines[strings.TrimPrefix(l, "/")] = true
		}
	}
	for _, want := range []string{".git", ".cache", "data", "bin"} {
		if !lines[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	for l := range lines {
		for _, needed := range []string{"*.go", "**/*.go", "go.work", "go.work.sum", "**/go.mod", "**/go.sum", "*.sql", "**/*.sql", "**/*.html", "schemas", "services", "platform", "cli", "tests"} {
			if l == needed {
				t.Errorf(".dockerignore excludes %s, which the build needs", l)
			}
		}
	}
}
