package datadir

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// A directory no dev stack used is not a data directory; one a process
// holds is running, naming the holder; released, it is stopped and its note
// still gives the database.
func TestInspectSaysWhatHoldsTheDirectory(t *testing.T) {
	dir := t.TempDir()
	if st, err := Inspect(dir); err != nil || st.IsDataDir {
		t.Fatalf("empty directory: %+v %v", st, err)
	}
	unlock, err := Lock(dir, "picket replay")
	if err != nil {
		t.Fatal(err)
	}
	info := Info{PID: os.Getpid(), OpsURL: "http://127.0.0.1:1", Token: "t", Database: "picket", ResultsTopic: "r"}
	if err := WriteInfo(dir, info); err != nil {
		t.Fatal(err)
	}
	st, err := Inspect(dir)
	pid := strconv.Itoa(os.Getpid())
	if err != nil || !st.IsDataDir || !st.Running || st.HolderPID != os.Getpid() || st.Holder != "another `picket replay` (pid "+pid+")" || st.Info != info {
		t.Fatalf("held: %+v %v", st, err)
	}
	_, err = Lock(dir, "picket dev")
	if want := "data_dir " + dir + " is in use by another `picket replay` (pid " + pid + "): stop it, or give this one another data_dir"; err == nil || err.Error() != want {
		t.Fatalf("second lock: %v, want %q", err, want)
	}
	if fi, err := os.Stat(filepath.Join(dir, InfoFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want mode 0600 (it holds the token)", InfoFile, fi, err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	st, err = Inspect(dir)
	if err != nil || !st.IsDataDir || st.Running || st.Info.Database != "picket" {
		t.Fatalf("released: %+v %v", st, err)
	}
}
