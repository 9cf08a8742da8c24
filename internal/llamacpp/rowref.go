//go:build llamacpp

package llamacpp

/*
#include <stdint.h>
#include <string.h>
#include "ggml.h"

// Exported by libggml-base (ggml-quants.h, which is not installed with the headers).
void quantize_row_q8_K_ref(const float * x, void * y, int64_t k);
void dequantize_row_q8_K(const void * x, float * y, int64_t k);

static int ggufy_from_float_ref(enum ggml_type t, const float *src, void *dst, int64_t n) {
	if (t == GGML_TYPE_Q8_K) {
		quantize_row_q8_K_ref(src, dst, n);
		return 1;
	}
	const struct ggml_type_traits * tt = ggml_get_type_traits(t);
	if (tt->from_float_ref == NULL) {
		return 0;
	}
	tt->from_float_ref(src, dst, n);
	return 1;
}

static int ggufy_to_float_any(enum ggml_type t, const void *src, float *dst, int64_t n) {
	if (t == GGML_TYPE_F32) {
		memcpy(dst, src, n*sizeof(float));
		return 1;
	}
	if (t == GGML_TYPE_Q8_K) {
		dequantize_row_q8_K(src, dst, n);
		return 1;
	}
	const struct ggml_type_traits * tt = ggml_get_type_traits(t);
	if (tt->to_float == NULL) {
		return 0;
	}
	tt->to_float(src, dst, n);
	return 1;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/ggufy/ggufy/gguf"
)

// QuantizeRowRef quantizes len(src) values to type t with the type's reference row quantizer
// (type_traits.from_float_ref; quantize_row_q8_K_ref for Q8_K). It reaches the types that
// ggml_quantize_chunk does not handle (Q8_1, Q8_K).
func QuantizeRowRef(t gguf.Type, src []float32) ([]byte, error) {
	size, err := t.RowSize(int64(len(src)))
	if err != nil {
		return nil, err
	}
	if len(src) == 0 {
		return nil, fmt.Errorf("llamacpp: no values to quantize")
	}
	dst := make([]byte, size)
	if C.ggufy_from_float_ref(C.enum_ggml_type(t), (*C.float)(unsafe.Pointer(&src[0])), unsafe.Pointer(&dst[0]), C.int64_t(len(src))) == 0 {
		return nil, fmt.Errorf("llamacpp: %s has no reference quantizer", t)
	}
	return dst, nil
}

// DequantizeAny is Dequantize extended to F32 (a copy) and Q8_K (dequantize_row_q8_K), which
// have no to_float type trait in ggml-base.
func DequantizeAny(t gguf.Type, data []byte, n int) ([]float32, error) {
	size, err := t.RowSize(int64(n))
	if err != nil {
		return nil, err
	}
	if int(size) != len(data) || n == 0 {
		return nil, fmt.Errorf("llamacpp: %d bytes of %s for %d values, want %d", len(data), t, n, size)
	}
	out := make([]float32, n)
	if C.ggufy_to_float_any(C.enum_ggml_type(t), unsafe.Pointer(&data[0]), (*C.float)(unsafe.Pointer(&out[0])), C.int64_t(n)) == 0 {
		return nil, fmt.Errorf("llamacpp: %s has no dequantizer", t)
	}
	return out, nil
}

// QuantizeChunkTo is QuantizeChunk into a caller's buffer of exactly the encoded size (for
// benchmarks that should not measure an allocation per call).
func QuantizeChunkTo(t gguf.Type, dst []byte, src []float32, nrows, nPerRow int, imatrix []float32) error {
	if len(src) != nrows*nPerRow || len(src) == 0 {
		return fmt.Errorf("llamacpp: %d values for %d rows of %d", len(src), nrows, nPerRow)
	}
	if imatrix != nil && len(imatrix) != nPerRow {
		return fmt.Errorf("llamacpp: imatrix has %d values for rows of %d", len(imatrix), nPerRow)
	}
	rowSize, err := t.RowSize(int64(nPerRow))
	if err != nil {
		return err
	}
	if len(dst) != int(rowSize)*nrows {
		return fmt.Errorf("llamacpp: destination has %d bytes, want %d", len(dst), int(rowSize)*nrows)
	}
	var im *C.float
	if imatrix != nil {
		im = (*C.float)(unsafe.Pointer(&imatrix[0]))
	}
	C.ggml_quantize_chunk(C.enum_ggml_type(t), (*C.float)(unsafe.Pointer(&src[0])), unsafe.Pointer(&dst[0]),
		0, C.int64_t(nrows), C.int64_t(nPerRow), im)
	return nil
}

// QuantizeRowRefTo is QuantizeRowRef into a caller's buffer of exactly the encoded size.
func QuantizeRowRefTo(t gguf.Type, dst []byte, src []float32) error {
	size, err := t.RowSize(int64(len(src)))
	if err != nil {
		return err
	}
	if len(src) == 0 || int64(len(dst)) != size {
		return fmt.Errorf("llamacpp: %d bytes for %d values of %s, want %d", len(dst), len(src), t, size)
	}
	if C.ggufy_from_float_ref(C.enum_ggml_type(t), (*C.float)(unsafe.Pointer(&src[0])), unsafe.Pointer(&dst[0]), C.int64_t(len(src))) == 0 {
		return fmt.Errorf("llamacpp: %s has no reference quantizer", t)
	}
	return nil
}

// DequantizeAnyTo is DequantizeAny into a caller's buffer (len(dst) values).
func DequantizeAnyTo(t gguf.Type, dst []float32, data []byte) error {
	size, err := t.RowSize(int64(len(dst)))
	if err != nil {
		return err
	}
	if int(size) != len(data) || len(dst) == 0 {
		return fmt.Errorf("llamacpp: %d bytes of %s for %d values, want %d", len(data), t, len(dst), size)
	}
	if C.ggufy_to_float_any(C.enum_ggml_type(t), unsafe.Pointer(&data[0]), (*C.float)(unsafe.Pointer(&dst[0])), C.int64_t(len(dst))) == 0 {
		return fmt.Errorf("llamacpp: %s has no dequantizer", t)
	}
	return nil
}
