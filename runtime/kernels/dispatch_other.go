//go:build !amd64 || purego

package kernels

// Pure-Go build (not amd64, or the purego tag): no assembly, every kernel is the reference.
// The amd64 version of this file is dispatch_amd64.go.

// haveAsm reports whether assembly kernels exist and the CPU can run them.
const haveAsm = false

// useAsm selects the assembly kernels when they exist. It is a variable so that tests can
// force the pure-Go fallback.
var useAsm = false

func quantizeRowQ8_0(dst []byte, src []float32) { quantizeRowQ8_0Generic(dst, src) }
func quantizeRowQ8_1(dst []byte, src []float32) { quantizeRowQ8_1Generic(dst, src) }
func quantizeRowQ8K(dst []byte, src []float32)  { quantizeRowQ8KGeneric(dst, src) }
func quantizeRowBF16(dst []byte, src []float32) { quantizeRowBF16Generic(dst, src) }
func quantizeRowF16(dst []byte, src []float32)  { quantizeRowF16Generic(dst, src) }
