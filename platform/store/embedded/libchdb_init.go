package embedded

// Imported for its init, which runs before the chdb binding's: it finds
// libchdb.so (CHDB_LIB_PATH, or the copy scripts/libchdb.sh fetched into
// .cache/) or stops the process with one line saying how to get it, instead
// of the binding's panic.
import _ "github.com/picket-dev/picket/platform/store/embedded/libchdb"
