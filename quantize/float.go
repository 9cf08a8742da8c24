package quantize

// F32, F16 and BF16 rows, converted as ggml_quantize_chunk and the types' to_float do
// (ggml/src/ggml.c, ggml, MIT license).

import (
	"encoding/binary"
	"math"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
)

func init() {
	register(gguf.TypeF32, &codec{quantizeRow: quantizeRowF32, dequantizeRow: dequantizeRowF32})
	register(gguf.TypeF16, &codec{quantizeRow: quantizeRowF16, dequantizeRow: dequantizeRowF16})
	register(gguf.TypeBF16, &codec{quantizeRow: quantizeRowBF16, dequantizeRow: dequantizeRowBF16})
}

func quantizeRowF32(dst []byte, src, _ []float32) {
	dst = dst[:4*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func dequantizeRowF32(dst []float32, src []byte) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// quantizeRowF16 is ggml_fp32_to_fp16_row.
func quantizeRowF16(dst []byte, src, _ []float32) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], f32ToF16(v))
	}
}

// dequantizeRowF16 is ggml_fp16_to_fp32_row.
func dequantizeRowF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = f16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// quantizeRowBF16 is ggml_fp32_to_bf16_row_ref.
func quantizeRowBF16(dst []byte, src, _ []float32) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], half.F32ToBF16(v))
	}
}

// dequantizeRowBF16 is ggml_bf16_to_fp32_row.
func dequantizeRowBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = half.BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}
