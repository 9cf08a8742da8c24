module github.com/ggufy/ggufy/runtime/kernels/_gen

go 1.26.8

require (
	github.com/ggufy/ggufy v0.0.0
	github.com/mmcloughlin/avo v0.5.0
)

require (
	golang.org/x/mod v0.6.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/tools v0.2.0 // indirect
)

// The i-quant kernels embed ggml's lattice tables, read from the one copy in the main module
// (internal/iqgrid) of this working tree.
replace github.com/ggufy/ggufy => ../../..
