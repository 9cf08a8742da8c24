package testmodel

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ggufy/ggufy/internal/half"
)

// Generator kinds, as recorded per tensor in weights.json.
const (
	KindWeight = "weight" // uniform, std 0.02: matrices, embeddings, biases, routers
	KindNorm   = "norm"   // 1 ± 0.1: norm gains
	KindNorm0  = "norm0"  // ± 0.1 around 0: Gemma norms, stored as offsets from 1
)

// scaleWeight makes the uniform [-1, 1) stream std 0.02 (uniform on [-a, a] has std a/√3).
var scaleWeight = 0.02 * math.Sqrt(3)

const normNoise = 0.1

// FNV1a64 is FNV-1a, 64-bit, over the bytes of s.
func FNV1a64(s string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 0x100000001b3
	}
	return h
}

// SplitMix64 advances *state and returns the next output (Steele, Lea, Flood; public domain).
func SplitMix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// stream yields the float64 values of a tensor's generator, in row-major order.
type stream struct {
	state uint64
	kind  string
}

func newStream(name, kind string) (*stream, error) {
	switch kind {
	case KindWeight, KindNorm, KindNorm0:
	default:
		return nil, fmt.Errorf("testmodel: tensor %q: unknown generator kind %q", name, kind)
	}
	return &stream{state: FNV1a64(name), kind: kind}, nil
}

// next returns the next value. The explicit float64 conversions keep every operation a separately
// rounded IEEE operation (no fused multiply-add), as numpy computes it.
func (s *stream) next() float64 {
	u := float64(SplitMix64(&s.state)>>11) * 0x1p-53
	v := float64(2*u) - 1
	switch s.kind {
	case KindNorm:
		return 1 + float64(v*normNoise)
	case KindNorm0:
		return float64(v * normNoise)
	default:
		return float64(v * scaleWeight)
	}
}

// dtypeSize is the byte size of one element of a safetensors dtype the generator writes.
func dtypeSize(dtype string) (int, error) {
	switch dtype {
	case "F32":
		return 4, nil
	case "F16", "BF16":
		return 2, nil
	}
	return 0, fmt.Errorf("testmodel: dtype %q has no generator", dtype)
}

// TensorBytes returns the little-endian bytes of the generated tensor: values computed in float64,
// rounded to float32 (nearest even), then to dtype (F32, F16 or BF16, nearest even). It is
// bit-identical to tools/devref/gen.py.
func TensorBytes(name string, n int, dtype, kind string) ([]byte, error) {
	size, err := dtypeSize(dtype)
	if err != nil {
		return nil, err
	}
	if n < 0 || n > maxTensorBytes/size {
		return nil, fmt.Errorf("testmodel: tensor %q: %d elements out of range", name, n)
	}
	s, err := newStream(name, kind)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n*size)
	for i := 0; i < n; i++ {
		f := float32(s.next())
		switch dtype {
		case "F32":
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		case "F16":
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToF16(f))
		case "BF16":
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToBF16(f))
		}
	}
	return b, nil
}
