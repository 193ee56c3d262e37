package clickhouse

import (
	"testing"
	"testing/fstest"
)

func TestMigrationsAreNumberedInOrder(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Fatalf("migration %d has version %d: versions must run 1, 2, 3…", i, m.Version)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	got := SplitStatements("-- comment\nCREATE TABLE a (x String);\n\n-- another\nCREATE TABLE b\n(y String)\nENGINE = Log;\nSELECT 1")
	want := []string{"CREATE TABLE a (x String)", "CREATE TABLE b\n(y String)\nENGINE = Log", "SELECT 1"}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statement %d: %q, want %q", i, got[i], want[i])
		}
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	tests := map[string]fstest.MapFS{
		"migration file create.sql: name must look like 0001_description.sql": {"create.sql": {Data: []byte("SELECT 1;")}},
		"migration files 0001_a.sql and 0001_b.sql share version 1": {
			"0001_a.sql": {Data: []byte("SELECT 1;")}, "0001_b.sql": {Data: []byte("SELECT 1;")},
		},
		"migration file 0001_a.sql: no statements": {"0001_a.sql": {Data: []byte("-- nothing\n")}},
	}
	for want, fsys := range tests {
		if _, err := load(fsys); err == nil || err.Error() != want {
			t.Errorf("error %v, want %s", err, want)
		}
	}
}
