package gguf

import (
	"fmt"
	"strings"
)

// Type is a ggml tensor type (enum ggml_type of ggml 0.25.1, llama.cpp v0.5.0).
type Type uint32

// The ggml tensor types. Numbers are part of the file format.
const (
	TypeF32     Type = 0
	TypeF16     Type = 1
	TypeQ4_0    Type = 2
	TypeQ4_1    Type = 3
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	TypeTQ1_0   Type = 34
	TypeTQ2_0   Type = 35
	TypeMXFP4   Type = 39
	TypeNVFP4   Type = 40
	TypeQ1_0    Type = 41
	TypeQ2_0    Type = 42

	// TypeCount is one past the largest ggml type number (GGML_TYPE_COUNT).
	TypeCount Type = 43
)

// QK_K is the super-block size of the k-quants and i-quants (ggml-common.h).
const QK_K = 256

type typeTraits struct {
	name      string // as ggml_type_name prints it
	blockSize int    // elements per block
	typeSize  int    // bytes per block
	quantized bool
}

// typeTable mirrors ggml's type_traits (ggml/src/ggml.c): name, block size and
// sizeof(block_*) from ggml-common.h.
var typeTable = [TypeCount]typeTraits{
	TypeF32:     {"f32", 1, 4, false},
	TypeF16:     {"f16", 1, 2, false},
	TypeQ4_0:    {"q4_0", 32, 18, true},
	TypeQ4_1:    {"q4_1", 32, 20, true},
	TypeQ5_0:    {"q5_0", 32, 22, true},
	TypeQ5_1:    {"q5_1", 32, 24, true},
	TypeQ8_0:    {"q8_0", 32, 34, true},
	TypeQ8_1:    {"q8_1", 32, 36, true},
	TypeQ2_K:    {"q2_K", QK_K, 84, true},
	TypeQ3_K:    {"q3_K", QK_K, 110, true},
	TypeQ4_K:    {"q4_K", QK_K, 144, true},
	TypeQ5_K:    {"q5_K", QK_K, 176, true},
	TypeQ6_K:    {"q6_K", QK_K, 210, true},
	TypeQ8_K:    {"q8_K", QK_K, 292, true},
	TypeIQ2_XXS: {"iq2_xxs", QK_K, 66, true},
	TypeIQ2_XS:  {"iq2_xs", QK_K, 74, true},
	TypeIQ3_XXS: {"iq3_xxs", QK_K, 98, true},
	TypeIQ1_S:   {"iq1_s", QK_K, 50, true},
	TypeIQ4_NL:  {"iq4_nl", 32, 18, true},
	TypeIQ3_S:   {"iq3_s", QK_K, 110, true},
	TypeIQ2_S:   {"iq2_s", QK_K, 82, true},
	TypeIQ4_XS:  {"iq4_xs", QK_K, 136, true},
	TypeI8:      {"i8", 1, 1, false},
	TypeI16:     {"i16", 1, 2, false},
	TypeI32:     {"i32", 1, 4, false},
	TypeI64:     {"i64", 1, 8, false},
	TypeF64:     {"f64", 1, 8, false},
	TypeIQ1_M:   {"iq1_m", QK_K, 56, true},
	TypeBF16:    {"bf16", 1, 2, false},
	TypeTQ1_0:   {"tq1_0", QK_K, 54, true},
	TypeTQ2_0:   {"tq2_0", QK_K, 66, true},
	TypeMXFP4:   {"mxfp4", 32, 17, true},
	TypeNVFP4:   {"nvfp4", 64, 36, true},
	TypeQ1_0:    {"q1_0", 128, 18, true},
	TypeQ2_0:    {"q2_0", 64, 18, true},
}

// Valid reports whether t is a type ggml can store in a file.
func (t Type) Valid() bool { return t < TypeCount && typeTable[t].blockSize > 0 }

// String returns the name ggml_type_name gives the type ("q4_K", "f16", ...).
func (t Type) String() string {
	if t.Valid() {
		return typeTable[t].name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize returns the number of elements per block (1 for plain types, 0 if invalid).
func (t Type) BlockSize() int {
	if !t.Valid() {
		return 0
	}
	return typeTable[t].blockSize
}

// TypeSize returns the number of bytes per block (0 if invalid).
func (t Type) TypeSize() int {
	if !t.Valid() {
		return 0
	}
	return typeTable[t].typeSize
}

// IsQuantized reports whether t is a block-quantized type.
func (t Type) IsQuantized() bool { return t.Valid() && typeTable[t].quantized }

// RowSize returns the bytes taken by n elements of type t, or an error if n is
// not a multiple of the block size.
func (t Type) RowSize(n int64) (int64, error) {
	if !t.Valid() {
		return 0, fmt.Errorf("%w: tensor type %d", ErrUnsupported, uint32(t))
	}
	bs := int64(t.BlockSize())
	if n < 0 || n%bs != 0 {
		return 0, fmt.Errorf("%w: %d elements is not a multiple of %s's block size %d", ErrFormat, n, t, bs)
	}
	return n / bs * int64(t.TypeSize()), nil
}

// ParseType looks a type up by its ggml name, case-insensitively ("Q4_K", "f16").
func ParseType(s string) (Type, error) {
	for i, tt := range typeTable {
		if tt.blockSize > 0 && strings.EqualFold(tt.name, s) {
			return Type(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown tensor type %q", ErrUnsupported, s)
}

// Types returns every valid type in enum order.
func Types() []Type {
	var ts []Type
	for i := range typeTable {
		if Type(i).Valid() {
			ts = append(ts, Type(i))
		}
	}
	return ts
}

// FileType is llama.cpp's llama_ftype, stored as general.file_type.
type FileType uint32

// The llama_ftype values of llama.cpp v0.5.0.
const (
	FileTypeAllF32         FileType = 0
	FileTypeMostlyF16      FileType = 1
	FileTypeMostlyQ4_0     FileType = 2
	FileTypeMostlyQ4_1     FileType = 3
	FileTypeMostlyQ8_0     FileType = 7
	FileTypeMostlyQ5_0     FileType = 8
	FileTypeMostlyQ5_1     FileType = 9
	FileTypeMostlyQ2_K     FileType = 10
	FileTypeMostlyQ3_K_S   FileType = 11
	FileTypeMostlyQ3_K_M   FileType = 12
	FileTypeMostlyQ3_K_L   FileType = 13
	FileTypeMostlyQ4_K_S   FileType = 14
	FileTypeMostlyQ4_K_M   FileType = 15
	FileTypeMostlyQ5_K_S   FileType = 16
	FileTypeMostlyQ5_K_M   FileType = 17
	FileTypeMostlyQ6_K     FileType = 18
	FileTypeMostlyIQ2_XXS  FileType = 19
	FileTypeMostlyIQ2_XS   FileType = 20
	FileTypeMostlyQ2_K_S   FileType = 21
	FileTypeMostlyIQ3_XS   FileType = 22
	FileTypeMostlyIQ3_XXS  FileType = 23
	FileTypeMostlyIQ1_S    FileType = 24
	FileTypeMostlyIQ4_NL   FileType = 25
	FileTypeMostlyIQ3_S    FileType = 26
	FileTypeMostlyIQ3_M    FileType = 27
	FileTypeMostlyIQ2_S    FileType = 28
	FileTypeMostlyIQ2_M    FileType = 29
	FileTypeMostlyIQ4_XS   FileType = 30
	FileTypeMostlyIQ1_M    FileType = 31
	FileTypeMostlyBF16     FileType = 32
	FileTypeMostlyTQ1_0    FileType = 36
	FileTypeMostlyTQ2_0    FileType = 37
	FileTypeMostlyMXFP4MoE FileType = 38
	FileTypeMostlyNVFP4    FileType = 39
	FileTypeMostlyQ1_0     FileType = 40
	FileTypeMostlyQ2_0     FileType = 41
	FileTypeGuessed        FileType = 1024
)

// fileTypeNames are llama_ftype_name's strings (src/llama-model-loader.cpp).
var fileTypeNames = map[FileType]string{
	FileTypeAllF32: "all F32", FileTypeMostlyF16: "F16", FileTypeMostlyBF16: "BF16",
	FileTypeMostlyQ1_0: "Q1_0", FileTypeMostlyQ2_0: "Q2_0",
	FileTypeMostlyQ4_0: "Q4_0", FileTypeMostlyQ4_1: "Q4_1", FileTypeMostlyQ5_0: "Q5_0",
	FileTypeMostlyQ5_1: "Q5_1", FileTypeMostlyQ8_0: "Q8_0", FileTypeMostlyMXFP4MoE: "MXFP4 MoE",
	FileTypeMostlyNVFP4: "NVFP4", FileTypeMostlyQ2_K: "Q2_K - Medium", FileTypeMostlyQ2_K_S: "Q2_K - Small",
	FileTypeMostlyQ3_K_S: "Q3_K - Small", FileTypeMostlyQ3_K_M: "Q3_K - Medium", FileTypeMostlyQ3_K_L: "Q3_K - Large",
	FileTypeMostlyQ4_K_S: "Q4_K - Small", FileTypeMostlyQ4_K_M: "Q4_K - Medium",
	FileTypeMostlyQ5_K_S: "Q5_K - Small", FileTypeMostlyQ5_K_M: "Q5_K - Medium", FileTypeMostlyQ6_K: "Q6_K",
	FileTypeMostlyTQ1_0: "TQ1_0 - 1.69 bpw ternary", FileTypeMostlyTQ2_0: "TQ2_0 - 2.06 bpw ternary",
	FileTypeMostlyIQ2_XXS: "IQ2_XXS - 2.0625 bpw", FileTypeMostlyIQ2_XS: "IQ2_XS - 2.3125 bpw",
	FileTypeMostlyIQ2_S: "IQ2_S - 2.5 bpw", FileTypeMostlyIQ2_M: "IQ2_M - 2.7 bpw",
	FileTypeMostlyIQ3_XS: "IQ3_XS - 3.3 bpw", FileTypeMostlyIQ3_XXS: "IQ3_XXS - 3.0625 bpw",
	FileTypeMostlyIQ1_S: "IQ1_S - 1.5625 bpw", FileTypeMostlyIQ1_M: "IQ1_M - 1.75 bpw",
	FileTypeMostlyIQ4_NL: "IQ4_NL - 4.5 bpw", FileTypeMostlyIQ4_XS: "IQ4_XS - 4.25 bpw",
	FileTypeMostlyIQ3_S: "IQ3_S - 3.4375 bpw", FileTypeMostlyIQ3_M: "IQ3_S mix - 3.66 bpw",
}

// String returns llama_ftype_name's description ("Q4_K - Medium").
func (f FileType) String() string {
	if s, ok := fileTypeNames[f&^FileTypeGuessed]; ok {
		if f&FileTypeGuessed != 0 {
			return s + " (guessed)"
		}
		return s
	}
	return "unknown, may not work"
}
