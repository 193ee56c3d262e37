package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Chunks by quoted bytes: a fleet's ids in as few statements as fit, each
// chunk within the bound, nothing lost, reordered or repeated.
func TestIDChunksAreBoundedByBytes(t *testing.T) {
	ids := func(n, length int) []string {
		out := make([]string, n)
		for i := range out {
			s := fmt.Sprintf("%d-", i)
			out[i] = s + strings.Repeat("x", length-len(s))
		}
		return out
	}
	for _, c := range []struct {
		name       string
		ids        []string
		wantChunks int
	}{
		{"none", nil, 1}, // one empty chunk: no ids means every check
		{"10,000 short ids", ids(10000, 12), 1},
		{"10,000 ids of 100 characters", ids(10000, 100), 1},
		{"10,000 ids of 128 characters", ids(10000, 128), 2},
		{"one id over the bound", []string{strings.Repeat("y", idChunkBytes+1), "a", "b"}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got [][]string
			for part := range idChunks(c.ids) {
				got = append(got, part)
			}
			if len(got) != c.wantChunks {
				t.Fatalf("%d chunks, want %d", len(got), c.wantChunks)
			}
			if all := slices.Concat(got...); !slices.Equal(all, c.ids) {
				t.Fatalf("chunks hold %d ids, want the %d given in order", len(all), len(c.ids))
			}
			for i, part := range got {
				size := 0
				for _, id := range part {
					size += quotedLen(id)
				}
				if size > idChunkBytes && len(part) > 1 {
					t.Errorf("chunk %d: %d ids of %d bytes, over %d", i, len(part), size, idChunkBytes)
				}
			}
		})
	}
}
