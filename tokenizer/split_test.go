package tokenizer

import (
	"math/rand"
	"slices"
	"testing"
)

// TestFastSplitMatchesRegex checks every hand-written fast splitter against the emulated
// std::regex on random text mixing all the character classes.
func TestFastSplitMatchesRegex(t *testing.T) {
	pool := []rune("aZ09 \t\r\n\v\f'!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\u00a0\u0085\u2003\u3000éßΣж中日한ア٣४①½\u0301\u0300😀€©∑…—«\u200d\ufeff\U0001F1FA\u4e00\u9fa5\u0800\uac00\ud7a3")
	rng := rand.New(rand.NewSource(3))
	exprs := []string{"\\p{N}", "\\p{N}+", "\\p{N}{1,3}", "[\r\n]", "[0-9][0-9][0-9]", "\\s?\\p{L}+", "\\s?\\p{P}+",
		"[\\p{P}\\$\\+<=>\\^~\\|]+", "[\\p{P}\\$\\+<=>\\^~\\|`]+", "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"}
	for _, e := range exprs {
		fast := fastSplit(e)
		if fast == nil {
			t.Fatalf("no fast splitter for %q", e)
		}
		std, err := newStdRegexSplit(e)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3000; i++ {
			n := rng.Intn(24)
			cpts := make([]rune, n)
			for j := range cpts {
				if rng.Intn(3) == 0 {
					cpts[j] = '0' + rune(rng.Intn(10))
				} else {
					cpts[j] = pool[rng.Intn(len(pool))]
				}
			}
			// one or two fragments
			offs := []int{n}
			if n > 2 && rng.Intn(2) == 0 {
				k := 1 + rng.Intn(n-1)
				offs = []int{k, n - k}
			}
			if n == 0 {
				continue
			}
			want := std.splitStd(cpts, collapse(nil, cpts), offs, nil)
			got := fast.split(cpts, offs, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("%q on %q %v: fast %v, std::regex %v", e, string(cpts), offs, got, want)
			}
		}
	}
}
