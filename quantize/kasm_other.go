//go:build !amd64 || purego

package quantize

// Pure-Go build (not amd64, or the purego tag): no lane kernels, every encoder runs its scalar
// searches. The amd64 version of this file is kasm_amd64.go.

// haveAsm reports whether the lane kernels exist and the CPU can run them.
const haveAsm = false

// useAsm selects the lane kernels when they exist. It is a variable so that tests can set it
// in every build.
var useAsm = false

// The lane-kernel encoders the codecs name: none, so Quantize runs the pure-Go ones.
var quantizeRowQ4KAsm, quantizeRowQ5KAsm, quantizeRowQ6KAsm, quantizeRowQ2KAsm, quantizeRowQ3KAsm func(dst []byte, src, imatrix []float32)
