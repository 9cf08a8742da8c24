module github.com/ggufy/ggufy/runtime/kernels/_gen

go 1.26.8

require github.com/mmcloughlin/avo v0.5.0
