//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// Assembly dispatch for amd64: the avo-generated kernels (kernels_amd64.s, stubs in
// kernels_amd64.go) run when the CPU has AVX2, FMA and F16C. The pure-Go build of this file is
// dispatch_other.go.

// haveAsm reports whether the CPU can run the assembly kernels.
var haveAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

// useAsm selects the assembly kernels when the CPU has them. It is a variable so that tests can
// force the pure-Go fallback and compare the two.
var useAsm = haveAsm

func quantizeRowQ8_0(dst []byte, src []float32) { quantizeRowQ8_0Generic(dst, src) }
func quantizeRowQ8K(dst []byte, src []float32)  { quantizeRowQ8KGeneric(dst, src) }
func quantizeRowF16(dst []byte, src []float32)  { quantizeRowF16Generic(dst, src) }
