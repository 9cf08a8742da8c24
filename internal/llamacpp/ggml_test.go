//go:build llamacpp

package llamacpp

import (
	"math"
	"testing"

	"github.com/ggufy/ggufy/gguf"
)

func TestQuantizeRoundTrip(t *testing.T) {
	src := make([]float32, 2*256)
	for i := range src {
		src[i] = float32(math.Sin(float64(i)))
	}
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeQ6_K} {
		q, err := QuantizeChunk(typ, src, 2, 256, nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Dequantize(typ, q, len(src))
		if err != nil {
			t.Fatal(err)
		}
		var maxErr float64
		for i := range src {
			maxErr = max(maxErr, math.Abs(float64(back[i]-src[i])))
		}
		if maxErr > 0.1 {
			t.Errorf("%s: max round-trip error %g", typ, maxErr)
		}
	}
}
