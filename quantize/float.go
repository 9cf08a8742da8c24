package quantize

// F32, F16 and BF16 rows, converted as ggml_quantize_chunk and the types' to_float do
// (ggml/src/ggml.c, ggml, MIT license).

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/ggufy/ggufy/gguf"
	"github.com/ggufy/ggufy/internal/half"
)

func init() {
	register(gguf.TypeF32, &codec{quantizeRow: quantizeRowF32, dequantizeRow: dequantizeRowF32})
	register(gguf.TypeF16, &codec{quantizeRow: quantizeRowF16, dequantizeRow: dequantizeRowF16})
	register(gguf.TypeBF16, &codec{quantizeRow: quantizeRowBF16, dequantizeRow: dequantizeRowBF16})
}

// littleEndian reports whether float32 memory already has the file's byte order.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func quantizeRowF32(dst []byte, src, _ []float32) {
	dst = dst[:4*len(src)]
	if littleEndian && len(src) > 0 {
		copy(dst, unsafe.Slice((*byte)(unsafe.Pointer(&src[0])), 4*len(src)))
		return
	}
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func dequantizeRowF32(dst []float32, src []byte) {
	src = src[:4*len(dst)]
	if littleEndian && len(dst) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), src)
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// put16x4 stores four 16-bit values little-endian with one bounds check.
func put16x4(b []byte, h0, h1, h2, h3 uint16) {
	binary.LittleEndian.PutUint64(b, uint64(h0)|uint64(h1)<<16|uint64(h2)<<32|uint64(h3)<<48)
}

// quantizeRowF16 is ggml_fp32_to_fp16_row.
func quantizeRowF16(dst []byte, src, _ []float32) {
	dst = dst[:2*len(src)]
	i := 0
	for ; i+4 <= len(src); i += 4 {
		x := src[i : i+4 : i+4]
		put16x4(dst[2*i:], f32ToF16(x[0]), f32ToF16(x[1]), f32ToF16(x[2]), f32ToF16(x[3]))
	}
	for ; i < len(src); i++ {
		binary.LittleEndian.PutUint16(dst[2*i:], f32ToF16(src[i]))
	}
}

// dequantizeRowF16 is ggml_fp16_to_fp32_row.
func dequantizeRowF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		u := binary.LittleEndian.Uint64(src[2*i:])
		y := dst[i : i+4 : i+4]
		y[0], y[1], y[2], y[3] = f16ToF32(uint16(u)), f16ToF32(uint16(u>>16)), f16ToF32(uint16(u>>32)), f16ToF32(uint16(u>>48))
	}
	for ; i < len(dst); i++ {
		dst[i] = f16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// quantizeRowBF16 is ggml_fp32_to_bf16_row_ref.
func quantizeRowBF16(dst []byte, src, _ []float32) {
	dst = dst[:2*len(src)]
	i := 0
	for ; i+4 <= len(src); i += 4 {
		x := src[i : i+4 : i+4]
		put16x4(dst[2*i:], half.F32ToBF16(x[0]), half.F32ToBF16(x[1]), half.F32ToBF16(x[2]), half.F32ToBF16(x[3]))
	}
	for ; i < len(src); i++ {
		binary.LittleEndian.PutUint16(dst[2*i:], half.F32ToBF16(src[i]))
	}
}

// dequantizeRowBF16 is ggml_bf16_to_fp32_row.
func dequantizeRowBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		u := binary.LittleEndian.Uint64(src[2*i:])
		y := dst[i : i+4 : i+4]
		y[0], y[1], y[2], y[3] = half.BF16ToF32(uint16(u)), half.BF16ToF32(uint16(u>>16)), half.BF16ToF32(uint16(u>>32)), half.BF16ToF32(uint16(u>>48))
	}
	for ; i < len(dst); i++ {
		dst[i] = half.BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}
