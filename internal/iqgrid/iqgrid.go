// Package iqgrid holds the lattice tables of ggml's i-quants (IQ1_S/IQ1_M, IQ2_XXS/XS/S,
// IQ3_XXS/S), the one copy that the quantizers (quantize), the dot products (runtime/kernels) and
// the assembly generator (runtime/kernels/_gen, through a replace directive) all read: the sign
// table and the grids as the dequantizers see them (ggml-common.h), and the grids packed at 2 or
// 3 bits per coordinate as the quantizers search them (kgrid_* in ggml-quants.c). The tables are
// ggml's (MIT license), generated into tables.go from a llama.cpp source tree (the pinned one; see
// scripts/llamacpp.sh, GGUFY_LLAMACPP_SOURCE):
//
//	LLAMACPP_SRC=/path/to/llama.cpp go generate ./internal/iqgrid
//	cd runtime/kernels/_gen && go generate   # the assembly embeds the grids it reads
package iqgrid

//go:generate go run ./gen -src ${LLAMACPP_SRC} -out tables.go
