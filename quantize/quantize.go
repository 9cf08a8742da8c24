// Package quantize encodes and decodes ggml's block formats, byte-identical to ggml's reference
// quantizers (ggml/src/ggml-quants.c, MIT), and chooses per-tensor types as llama-quantize does.
package quantize

import (
	"errors"
	"fmt"

	"github.com/ggufy/ggufy/gguf"
)

// ErrNeedImatrix is returned when a type cannot be quantized without an importance matrix.
var ErrNeedImatrix = errors.New("quantize: type needs an importance matrix")

// ErrUnsupported is returned for a type that has no encoder or decoder.
var ErrUnsupported = errors.New("quantize: unsupported type")

// codec holds the row functions of one ggml type. quantizeRow encodes one row of n values
// (n a multiple of the block size) into dst, using imatrix (n weights, may be nil) the way
// ggml_quantize_chunk does; dequantizeRow decodes n values.
// quantizeRowAsm, where not nil, is quantizeRow with the lane kernels (kasm_amd64.go): the same
// bytes, used while useAsm is set.
type codec struct {
	quantizeRow    func(dst []byte, src, imatrix []float32)
	quantizeRowAsm func(dst []byte, src, imatrix []float32)
	dequantizeRow  func(dst []float32, src []byte)
	needsImatrix   bool // ggml_quantize_requires_imatrix
}

var codecs = map[gguf.Type]*codec{}

// register installs the row functions of a type; each format's file calls it from init.
func register(t gguf.Type, c *codec) {
	if _, dup := codecs[t]; dup {
		panic("quantize: type registered twice: " + t.String())
	}
	codecs[t] = c
}

// Supported reports whether t can be encoded and decoded.
func Supported(t gguf.Type) bool {
	c := codecs[t]
	return c != nil && c.quantizeRow != nil && c.dequantizeRow != nil
}

// RequiresImatrix reports whether t cannot be quantized without an importance matrix
// (ggml_quantize_requires_imatrix).
func RequiresImatrix(t gguf.Type) bool {
	c := codecs[t]
	return c != nil && c.needsImatrix
}

// Quantize encodes the rows of src (each nPerRow values) into dst as type t, as
// ggml_quantize_chunk does. imatrix, when not nil, holds nPerRow importance weights.
// dst must hold exactly the encoded size.
func Quantize(t gguf.Type, dst []byte, src []float32, nPerRow int, imatrix []float32) error {
	c := codecs[t]
	if c == nil || c.quantizeRow == nil {
		return fmt.Errorf("%w: %s", ErrUnsupported, t)
	}
	if nPerRow <= 0 || len(src)%nPerRow != 0 {
		return fmt.Errorf("quantize %s: %d values are not whole rows of %d", t, len(src), nPerRow)
	}
	rowSize, err := t.RowSize(int64(nPerRow))
	if err != nil {
		return fmt.Errorf("quantize %s: %w", t, err)
	}
	nrows := len(src) / nPerRow
	if len(dst) != int(rowSize)*nrows {
		return fmt.Errorf("quantize %s: destination has %d bytes, want %d", t, len(dst), int(rowSize)*nrows)
	}
	if imatrix != nil && len(imatrix) != nPerRow {
		return fmt.Errorf("quantize %s: importance matrix has %d values, rows have %d", t, len(imatrix), nPerRow)
	}
	if imatrix == nil && c.needsImatrix {
		return fmt.Errorf("%w: %s", ErrNeedImatrix, t)
	}
	quantizeRow := c.quantizeRow
	if useAsm && c.quantizeRowAsm != nil {
		quantizeRow = c.quantizeRowAsm
	}
	for r := 0; r < nrows; r++ {
		quantizeRow(dst[r*int(rowSize):(r+1)*int(rowSize)], src[r*nPerRow:(r+1)*nPerRow], imatrix)
	}
	return nil
}

// Dequantize decodes len(dst) values of type t from src.
func Dequantize(t gguf.Type, dst []float32, src []byte) error {
	c := codecs[t]
	if c == nil || c.dequantizeRow == nil {
		return fmt.Errorf("%w: %s", ErrUnsupported, t)
	}
	size, err := t.RowSize(int64(len(dst)))
	if err != nil {
		return fmt.Errorf("dequantize %s: %w", t, err)
	}
	if int64(len(src)) != size {
		return fmt.Errorf("dequantize %s: %d bytes for %d values, want %d", t, len(src), len(dst), size)
	}
	c.dequantizeRow(dst, src)
	return nil
}
