//go:build !amd64 || purego

package quantize

// Pure-Go build (not amd64, or the purego tag): no lane kernels, every encoder runs its scalar
// searches. The amd64 version of this file is kasm_amd64.go.

// haveAsm reports whether the lane kernels exist and the CPU can run them.
const haveAsm = false

// useAsm selects the lane kernels when they exist. It is a variable so that tests can set it
// in every build.
var useAsm = false

func quantizeRowQ4KAsm(dst []byte, src, imatrix []float32) { quantizeRowQ4KGo(dst, src, imatrix) }
func quantizeRowQ5KAsm(dst []byte, src, imatrix []float32) { quantizeRowQ5KGo(dst, src, imatrix) }
func quantizeRowQ6KAsm(dst []byte, src, imatrix []float32) { quantizeRowQ6KGo(dst, src, imatrix) }
func quantizeRowQ2KAsm(dst []byte, src, imatrix []float32) { quantizeRowQ2KGo(dst, src, imatrix) }
func quantizeRowQ3KAsm(dst []byte, src, imatrix []float32) { quantizeRowQ3KGo(dst, src, imatrix) }
