package tokenizer

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestStdHash(t *testing.T) {
	keys := readLines(t, "testdata/libstdcxx/keys.txt")
	want := readLines(t, "testdata/libstdcxx/hash.out")
	for i, w := range want {
		if got := fmt.Sprintf("%016x", stdHash(keys[i])); got != w {
			t.Fatalf("stdHash(%q) = %s, libstdc++ %s", keys[i], got, w)
		}
	}
}

func TestUnorderedMapOrder(t *testing.T) {
	keys := readLines(t, "testdata/libstdcxx/keys.txt")
	want := readLines(t, "testdata/libstdcxx/umap.out")
	rank := unorderedMapRank(keys)
	got := make([]int, len(keys))
	for i, r := range rank {
		got[r] = i
	}
	for i, w := range want {
		if strconv.Itoa(got[i]) != w {
			t.Fatalf("iteration position %d: key %d, libstdc++ key %s", i, got[i], w)
		}
	}
}

func TestStdSort(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"lens.txt", "sort.out"}, {"lens-small.txt", "sort-small.out"}, {"lens.txt", "psort.out"},
	} {
		lines := readLines(t, "testdata/libstdcxx/"+c.in)
		lens := make([]int, len(lines))
		idx := make([]int32, len(lines))
		for i, l := range lines {
			lens[i], _ = strconv.Atoi(l)
			idx[i] = int32(i)
		}
		less := func(a, b int32) bool { return lens[a] > lens[b] }
		if c.out == "psort.out" {
			heapSelectSort(idx, 0, len(idx), less)
		} else {
			stdSort(idx, less)
		}
		want := readLines(t, "testdata/libstdcxx/"+c.out)
		for i, w := range want {
			if strconv.Itoa(int(idx[i])) != w {
				t.Fatalf("%s: position %d holds %d, libstdc++ %s", c.out, i, idx[i], w)
			}
		}
	}
}
