//go:build llamacpp

package llamacpp

/*
#include <stdlib.h>
#include "ggml.h"

static void ggufy_to_float(enum ggml_type t, const void *src, float *dst, int64_t n) {
	ggml_get_type_traits(t)->to_float(src, dst, n);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/ggufy/ggufy/gguf"
)

// QuantizeChunk quantizes nrows rows of nPerRow float32 values to type t with
// ggml_quantize_chunk, optionally weighted by an importance matrix of nPerRow values.
func QuantizeChunk(t gguf.Type, src []float32, nrows, nPerRow int, imatrix []float32) ([]byte, error) {
	if len(src) != nrows*nPerRow || len(src) == 0 {
		return nil, fmt.Errorf("llamacpp: %d values for %d rows of %d", len(src), nrows, nPerRow)
	}
	if imatrix != nil && len(imatrix) != nPerRow {
		return nil, fmt.Errorf("llamacpp: imatrix has %d values for rows of %d", len(imatrix), nPerRow)
	}
	rowSize, err := t.RowSize(int64(nPerRow))
	if err != nil {
		return nil, err
	}
	dst := make([]byte, int(rowSize)*nrows)
	var im *C.float
	if imatrix != nil {
		im = (*C.float)(unsafe.Pointer(&imatrix[0]))
	}
	n := C.ggml_quantize_chunk(C.enum_ggml_type(t), (*C.float)(unsafe.Pointer(&src[0])), unsafe.Pointer(&dst[0]),
		0, C.int64_t(nrows), C.int64_t(nPerRow), im)
	if int(n) != len(dst) {
		return nil, fmt.Errorf("llamacpp: ggml_quantize_chunk(%s) wrote %d bytes, want %d", t, int(n), len(dst))
	}
	return dst, nil
}

// RequiresImatrix reports ggml_quantize_requires_imatrix(t).
func RequiresImatrix(t gguf.Type) bool {
	return bool(C.ggml_quantize_requires_imatrix(C.enum_ggml_type(t)))
}

// Dequantize converts n values of type t to float32 with ggml's to_float.
func Dequantize(t gguf.Type, data []byte, n int) ([]float32, error) {
	rowSize, err := t.RowSize(int64(n))
	if err != nil {
		return nil, err
	}
	if int(rowSize) != len(data) || n == 0 {
		return nil, fmt.Errorf("llamacpp: %d bytes of %s for %d values, want %d", len(data), t, n, rowSize)
	}
	out := make([]float32, n)
	C.ggufy_to_float(C.enum_ggml_type(t), unsafe.Pointer(&data[0]), (*C.float)(unsafe.Pointer(&out[0])), C.int64_t(n))
	return out, nil
}
