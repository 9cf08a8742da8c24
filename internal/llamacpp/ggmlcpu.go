//go:build llamacpp

package llamacpp

// Bindings to ggml's CPU backend (libggml-cpu-haswell.so), which is a separate library from
// libggml-base: it is dlopen'ed from $GGUFY_LLAMACPP_LIB and its entry points are looked up with
// dlsym. They give tests and benchmarks the kernels llama.cpp itself runs on this machine: each
// type's from_float (activation quantizer), vec_dot, and the graph mul_mat (llamafile sgemm or
// vec_dot chunks).

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

typedef const struct ggml_type_traits_cpu * (*ggufy_traits_fn)(enum ggml_type);
typedef void (*ggufy_init_fn)(void);
typedef enum ggml_status (*ggufy_compute_fn)(struct ggml_context *, struct ggml_cgraph *, int);

typedef ggml_backend_t (*ggufy_backend_init_fn)(void);
typedef void (*ggufy_set_threads_fn)(ggml_backend_t, int);
typedef ggml_backend_reg_t (*ggufy_reg_fn)(void);

static void *ggufy_cpu_lib;
static ggufy_traits_fn ggufy_traits;
static ggufy_compute_fn ggufy_compute;
static ggufy_backend_init_fn ggufy_backend_init;
static ggufy_set_threads_fn ggufy_set_threads;
static ggufy_reg_fn ggufy_cpu_reg;

// ggufy_cpu_open loads the CPU backend and calls ggml_cpu_init; it returns NULL or an error.
static const char *ggufy_cpu_open(const char *path) {
	ggufy_cpu_lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!ggufy_cpu_lib) {
		return dlerror();
	}
	ggufy_init_fn init = (ggufy_init_fn)dlsym(ggufy_cpu_lib, "ggml_cpu_init");
	ggufy_traits = (ggufy_traits_fn)dlsym(ggufy_cpu_lib, "ggml_get_type_traits_cpu");
	ggufy_compute = (ggufy_compute_fn)dlsym(ggufy_cpu_lib, "ggml_graph_compute_with_ctx");
	ggufy_backend_init = (ggufy_backend_init_fn)dlsym(ggufy_cpu_lib, "ggml_backend_cpu_init");
	ggufy_set_threads = (ggufy_set_threads_fn)dlsym(ggufy_cpu_lib, "ggml_backend_cpu_set_n_threads");
	ggufy_cpu_reg = (ggufy_reg_fn)dlsym(ggufy_cpu_lib, "ggml_backend_cpu_reg");
	if (!init || !ggufy_traits || !ggufy_compute || !ggufy_backend_init || !ggufy_set_threads || !ggufy_cpu_reg) {
		return "a ggml CPU backend entry point is missing";
	}
	init();
	return NULL;
}

static int ggufy_vec_dot_type(enum ggml_type t) { return (int)ggufy_traits(t)->vec_dot_type; }
static int ggufy_has_from_float(enum ggml_type t) { return ggufy_traits(t)->from_float != NULL; }
static int ggufy_has_vec_dot(enum ggml_type t) { return ggufy_traits(t)->vec_dot != NULL; }

static void ggufy_from_float(enum ggml_type t, const float *x, void *y, int64_t n) {
	ggufy_traits(t)->from_float(x, y, n);
}

static float ggufy_vec_dot(enum ggml_type t, int n, const void *x, const void *y) {
	float s = 0;
	ggufy_traits(t)->vec_dot(n, &s, 0, x, 0, y, 0, 1);
	return s;
}

// ggufy_vec_dot_rows runs vec_dot over rows of x against one activation row, looping in C, and
// returns the elapsed nanoseconds (CLOCK_MONOTONIC), so that benchmarks pay no cgo cost per row.
static int64_t ggufy_vec_dot_rows(enum ggml_type t, int n, int rows, const char *x, size_t xstride,
		const void *y, float *out, int reps) {
	ggml_vec_dot_t vd = ggufy_traits(t)->vec_dot;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int r = 0; r < reps; r++) {
		for (int i = 0; i < rows; i++) {
			vd(n, &out[i], 0, x + (size_t)i * xstride, 0, y, 0, 1);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec);
}

// ggufy_from_float_reps times from_float over n values, reps times.
static int64_t ggufy_from_float_reps(enum ggml_type t, const float *x, void *y, int64_t n, int reps) {
	ggml_from_float_t ff = ggufy_traits(t)->from_float;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int r = 0; r < reps; r++) {
		ff(x, y, n);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec);
}

struct ggufy_mulmat {
	struct ggml_context *ctx;
	struct ggml_cgraph *gf;
	struct ggml_tensor *w, *x, *out;
	// repacked form: weights in the CPU_REPACK buffer, run through a CPU backend
	struct ggml_context *wctx;
	ggml_backend_buffer_t wbuf, xbuf;
	ggml_backend_t backend;
};

// ggufy_repack_buft returns the CPU backend's CPU_REPACK extra buffer type, or NULL.
static ggml_backend_buffer_type_t ggufy_repack_buft(void) {
	ggml_backend_reg_t reg = ggufy_cpu_reg();
	ggml_backend_dev_get_extra_bufts_t get = (ggml_backend_dev_get_extra_bufts_t)
		ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
	if (!get) {
		return NULL;
	}
	for (ggml_backend_buffer_type_t *b = get(ggml_backend_reg_dev_get(reg, 0)); b && *b; b++) {
		if (strcmp(ggml_backend_buft_name(*b), "CPU_REPACK") == 0) {
			return *b;
		}
	}
	return NULL;
}

// ggufy_mulmat_new_repacked builds the product as llama.cpp runs it on the CPU by default:
// weights in the CPU_REPACK buffer (repacked when set when ggml has an interleaved kernel for
// the type), computed by a CPU backend.
static struct ggufy_mulmat *ggufy_mulmat_new_repacked(enum ggml_type t, int64_t rows, int64_t cols, int64_t ncols,
		const void *wdata, const float *xdata) {
	ggml_backend_buffer_type_t buft = ggufy_repack_buft();
	if (!buft) {
		return NULL;
	}
	struct ggufy_mulmat *m = calloc(1, sizeof(*m));
	struct ggml_init_params wp = { ggml_tensor_overhead() * 4, NULL, true };
	m->wctx = ggml_init(wp);
	m->w = ggml_new_tensor_2d(m->wctx, t, cols, rows);
	m->wbuf = ggml_backend_alloc_ctx_tensors_from_buft(m->wctx, buft);
	if (!m->wbuf) {
		return NULL;
	}
	ggml_backend_tensor_set(m->w, wdata, 0, ggml_nbytes(m->w));
	struct ggml_init_params p = { ggml_tensor_overhead() * 8 + ggml_graph_overhead(), NULL, true };
	m->ctx = ggml_init(p);
	m->x = ggml_new_tensor_2d(m->ctx, GGML_TYPE_F32, cols, ncols);
	m->out = ggml_mul_mat(m->ctx, m->w, m->x);
	m->gf = ggml_new_graph(m->ctx);
	ggml_build_forward_expand(m->gf, m->out);
	m->xbuf = ggml_backend_alloc_ctx_tensors_from_buft(m->ctx, ggml_backend_cpu_buffer_type());
	ggml_backend_tensor_set(m->x, xdata, 0, ggml_nbytes(m->x));
	m->backend = ggufy_backend_init();
	return m;
}

// ggufy_mulmat_new builds out = mul_mat(w, x) for w [rows x cols] of type t and x [ncols x cols] f32.
static struct ggufy_mulmat *ggufy_mulmat_new(enum ggml_type t, int64_t rows, int64_t cols, int64_t ncols,
		const void *wdata, const float *xdata) {
	size_t wbytes = ggml_row_size(t, cols) * rows;
	size_t xbytes = sizeof(float) * cols * ncols;
	size_t obytes = sizeof(float) * rows * ncols;
	// the work buffer holds the activations converted to vec_dot_type (at most 4 bytes a value)
	size_t mem = wbytes + 2 * xbytes + obytes + ggml_graph_overhead() + 16 * ggml_tensor_overhead() + (64 << 20);
	struct ggml_init_params p = { mem, NULL, false };
	struct ggufy_mulmat *m = calloc(1, sizeof(*m));
	m->ctx = ggml_init(p);
	if (!m->ctx) {
		free(m);
		return NULL;
	}
	m->w = ggml_new_tensor_2d(m->ctx, t, cols, rows);
	m->x = ggml_new_tensor_2d(m->ctx, GGML_TYPE_F32, cols, ncols);
	memcpy(m->w->data, wdata, wbytes);
	memcpy(m->x->data, xdata, xbytes);
	m->out = ggml_mul_mat(m->ctx, m->w, m->x);
	m->gf = ggml_new_graph(m->ctx);
	ggml_build_forward_expand(m->gf, m->out);
	return m;
}

// ggufy_mulmat_run computes the graph reps times and returns the elapsed nanoseconds, or -1.
static int64_t ggufy_mulmat_run(struct ggufy_mulmat *m, int nthreads, int reps) {
	struct timespec a, b;
	if (m->backend) {
		ggufy_set_threads(m->backend, nthreads);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int r = 0; r < reps; r++) {
		enum ggml_status st = m->backend ? ggml_backend_graph_compute(m->backend, m->gf)
		                                 : ggufy_compute(m->ctx, m->gf, nthreads);
		if (st != GGML_STATUS_SUCCESS) {
			return -1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec);
}

static int64_t ggufy_thread_cpu_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static const float *ggufy_mulmat_out(struct ggufy_mulmat *m) { return (const float *)m->out->data; }

static void ggufy_mulmat_free(struct ggufy_mulmat *m) {
	if (m->backend) {
		ggml_backend_free(m->backend);
		ggml_backend_buffer_free(m->xbuf);
		ggml_backend_buffer_free(m->wbuf);
		ggml_free(m->wctx);
	}
	ggml_free(m->ctx);
	free(m);
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/ggufy/ggufy/gguf"
)

// CPUVariant is the ggml CPU backend variant the harness loads: the AVX2/FMA/F16C build that
// llama.cpp's loader picks on a Haswell-class x86-64 machine.
const CPUVariant = "libggml-cpu-haswell.so"

var (
	cpuOnce sync.Once
	cpuErr  error
)

// openCPU dlopens $GGUFY_LLAMACPP_LIB/libggml-cpu-haswell.so once and initializes it.
func openCPU() error {
	cpuOnce.Do(func() {
		dir := os.Getenv("GGUFY_LLAMACPP_LIB")
		if dir == "" {
			cpuErr = fmt.Errorf("llamacpp: GGUFY_LLAMACPP_LIB is not set (eval \"$(scripts/llamacpp.sh)\")")
			return
		}
		path := C.CString(filepath.Join(dir, CPUVariant))
		defer C.free(unsafe.Pointer(path))
		if msg := C.ggufy_cpu_open(path); msg != nil {
			cpuErr = fmt.Errorf("llamacpp: load %s: %s", CPUVariant, C.GoString(msg))
		}
	})
	return cpuErr
}

// CPUVecDotType returns type_traits_cpu[t].vec_dot_type: the type ggml converts activations to
// before a product with weights of type t.
func CPUVecDotType(t gguf.Type) (gguf.Type, error) {
	if err := openCPU(); err != nil {
		return 0, err
	}
	if !t.Valid() {
		return 0, fmt.Errorf("llamacpp: invalid type %d", uint32(t))
	}
	return gguf.Type(C.ggufy_vec_dot_type(C.enum_ggml_type(t))), nil
}

// CPUFromFloat converts src with type_traits_cpu[t].from_float (the CPU backend's quantizer,
// e.g. the AVX2 quantize_row_q8_0 for t = q8_0).
func CPUFromFloat(t gguf.Type, src []float32) ([]byte, error) {
	if err := openCPU(); err != nil {
		return nil, err
	}
	if !t.Valid() || C.ggufy_has_from_float(C.enum_ggml_type(t)) == 0 {
		return nil, fmt.Errorf("llamacpp: %s has no CPU from_float", t)
	}
	size, err := t.RowSize(int64(len(src)))
	if err != nil || len(src) == 0 {
		return nil, fmt.Errorf("llamacpp: from_float %s of %d values: %v", t, len(src), err)
	}
	dst := make([]byte, size)
	C.ggufy_from_float(C.enum_ggml_type(t), (*C.float)(unsafe.Pointer(&src[0])), unsafe.Pointer(&dst[0]), C.int64_t(len(src)))
	return dst, nil
}

// CPUVecDot returns type_traits_cpu[t].vec_dot of n values: the weight row w (type t) against
// the activation row a (t's vec_dot_type).
func CPUVecDot(t gguf.Type, n int, w, a []byte) (float32, error) {
	vt, err := CPUVecDotType(t)
	if err != nil {
		return 0, err
	}
	if C.ggufy_has_vec_dot(C.enum_ggml_type(t)) == 0 {
		return 0, fmt.Errorf("llamacpp: %s has no CPU vec_dot", t)
	}
	ws, err1 := t.RowSize(int64(n))
	as, err2 := vt.RowSize(int64(n))
	if err1 != nil || err2 != nil || n == 0 || int64(len(w)) < ws || int64(len(a)) < as {
		return 0, fmt.Errorf("llamacpp: vec_dot %s: %d values, %d weight bytes, %d activation bytes", t, n, len(w), len(a))
	}
	return float32(C.ggufy_vec_dot(C.enum_ggml_type(t), C.int(n), unsafe.Pointer(&w[0]), unsafe.Pointer(&a[0]))), nil
}

// CPUVecDotRows runs vec_dot for each of the rows of w (type t, n values a row, rows stored
// back to back) against the activation row a, reps times, looping in C. It fills out (one value a
// row) and returns the time taken.
func CPUVecDotRows(t gguf.Type, n, rows int, w, a []byte, out []float32, reps int) (time.Duration, error) {
	vt, err := CPUVecDotType(t)
	if err != nil {
		return 0, err
	}
	ws, err1 := t.RowSize(int64(n))
	as, err2 := vt.RowSize(int64(n))
	if err1 != nil || err2 != nil || n == 0 || rows <= 0 || int64(len(w)) < ws*int64(rows) ||
		int64(len(a)) < as || len(out) < rows || reps <= 0 {
		return 0, fmt.Errorf("llamacpp: vec_dot rows %s: bad sizes", t)
	}
	ns := C.ggufy_vec_dot_rows(C.enum_ggml_type(t), C.int(n), C.int(rows), (*C.char)(unsafe.Pointer(&w[0])),
		C.size_t(ws), unsafe.Pointer(&a[0]), (*C.float)(unsafe.Pointer(&out[0])), C.int(reps))
	return time.Duration(ns), nil
}

// CPUFromFloatTime times reps calls of from_float (type t) over src into dst.
func CPUFromFloatTime(t gguf.Type, src []float32, dst []byte, reps int) (time.Duration, error) {
	if err := openCPU(); err != nil {
		return 0, err
	}
	size, err := t.RowSize(int64(len(src)))
	if err != nil || len(src) == 0 || int64(len(dst)) < size || C.ggufy_has_from_float(C.enum_ggml_type(t)) == 0 {
		return 0, fmt.Errorf("llamacpp: from_float %s: bad sizes", t)
	}
	ns := C.ggufy_from_float_reps(C.enum_ggml_type(t), (*C.float)(unsafe.Pointer(&src[0])), unsafe.Pointer(&dst[0]),
		C.int64_t(len(src)), C.int(reps))
	return time.Duration(ns), nil
}

// MulMat is a ggml graph computing out = w × x on the CPU backend, as llama.cpp's mul_mat does
// for weights in a plain CPU buffer (no repacking): llamafile sgemm where it applies, vec_dot
// chunks elsewhere, activations converted with the type's from_float.
type MulMat struct {
	m                 *C.struct_ggufy_mulmat
	rows, cols, ncols int
}

// RepackTypes are the weight types that ggml's CPU_REPACK buffer interleaves on an AVX2 machine
// (ggml_repack_get_optimal_repack_type, haswell build), when the row count is a multiple of 8.
var RepackTypes = []gguf.Type{gguf.TypeQ4_0, gguf.TypeQ4_K, gguf.TypeIQ4_NL, gguf.TypeMXFP4}

// NewMulMatRepacked is NewMulMat with the weights in ggml's CPU_REPACK buffer, as llama.cpp
// holds them by default on the CPU: the types in RepackTypes are interleaved and multiplied by
// ggml's gemm kernels for that layout.
func NewMulMatRepacked(t gguf.Type, rows, cols, ncols int, w []byte, x []float32) (*MulMat, error) {
	return newMulMat(t, rows, cols, ncols, w, x, true)
}

// NewMulMat copies the weights w (rows × cols of type t) and the activations x (ncols × cols
// float32, one column after another) into a new ggml context.
func NewMulMat(t gguf.Type, rows, cols, ncols int, w []byte, x []float32) (*MulMat, error) {
	return newMulMat(t, rows, cols, ncols, w, x, false)
}

func newMulMat(t gguf.Type, rows, cols, ncols int, w []byte, x []float32, repack bool) (*MulMat, error) {
	if err := openCPU(); err != nil {
		return nil, err
	}
	ws, err := t.RowSize(int64(cols))
	if err != nil || rows <= 0 || ncols <= 0 || int64(len(w)) != ws*int64(rows) || len(x) != cols*ncols {
		return nil, fmt.Errorf("llamacpp: mul_mat %s %dx%d x %d: bad sizes", t, rows, cols, ncols)
	}
	var m *C.struct_ggufy_mulmat
	if repack {
		if !slices.Contains(RepackTypes, t) || rows%8 != 0 {
			return nil, fmt.Errorf("llamacpp: ggml does not repack %s with %d rows on AVX2", t, rows)
		}
		m = C.ggufy_mulmat_new_repacked(C.enum_ggml_type(t), C.int64_t(rows), C.int64_t(cols), C.int64_t(ncols),
			unsafe.Pointer(&w[0]), (*C.float)(unsafe.Pointer(&x[0])))
	} else {
		m = C.ggufy_mulmat_new(C.enum_ggml_type(t), C.int64_t(rows), C.int64_t(cols), C.int64_t(ncols),
			unsafe.Pointer(&w[0]), (*C.float)(unsafe.Pointer(&x[0])))
	}
	if m == nil {
		return nil, fmt.Errorf("llamacpp: mul_mat %s: ggml_init failed", t)
	}
	return &MulMat{m: m, rows: rows, cols: cols, ncols: ncols}, nil
}

// Run computes the product reps times with nthreads threads and returns the time taken.
func (m *MulMat) Run(nthreads, reps int) (time.Duration, error) {
	ns := C.ggufy_mulmat_run(m.m, C.int(nthreads), C.int(reps))
	if ns < 0 {
		return 0, fmt.Errorf("llamacpp: ggml_graph_compute_with_ctx failed")
	}
	return time.Duration(ns), nil
}

// ThreadCPUTime returns the CPU time the calling OS thread has used (CLOCK_THREAD_CPUTIME_ID).
// With runtime.LockOSThread it times single-threaded work without the time other tenants of a
// shared machine take from it.
func ThreadCPUTime() time.Duration { return time.Duration(C.ggufy_thread_cpu_ns()) }

// Out returns a copy of the result, laid out [col][row].
func (m *MulMat) Out() []float32 {
	p := C.ggufy_mulmat_out(m.m)
	if m.m.backend != nil {
		out := make([]float32, m.rows*m.ncols)
		C.ggml_backend_tensor_get(m.m.out, unsafe.Pointer(&out[0]), 0, C.size_t(4*len(out)))
		return out
	}
	return append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(p)), m.rows*m.ncols)...)
}

// Free releases the ggml context.
func (m *MulMat) Free() {
	if m.m != nil {
		C.ggufy_mulmat_free(m.m)
		m.m = nil
	}
}
