//go:build llamacpp

package llamacpp

// llama.cpp's (and ggml's) log, routed into Go. This file holds the exported callback; cgo
// allows only declarations in the preamble of a file with //export, so the C glue that
// installs it lives in llama.go.

/*
#include "ggml.h"
*/
import "C"

import (
	"os"
	"strings"
	"sync"
)

// logKeep is how many bytes of warnings and errors are kept between two takes.
const logKeep = 16 << 10

// llamaLog collects llama.cpp's warnings and errors (with their continuation lines) so that a
// failed call can return them; everything is also written to stderr when verbose.
var llamaLog struct {
	sync.Mutex
	verbose   bool
	keepLevel bool // the last line was a warning or an error, so its CONT lines are kept too
	buf       []byte
}

//export ggufyGoLog
func ggufyGoLog(level C.enum_ggml_log_level, text *C.char, _ *C.void) {
	if text == nil {
		return
	}
	s := C.GoString(text)
	l := &llamaLog
	l.Lock()
	defer l.Unlock()
	if l.verbose {
		os.Stderr.WriteString(s)
	}
	switch level {
	case C.GGML_LOG_LEVEL_WARN, C.GGML_LOG_LEVEL_ERROR:
		l.keepLevel = true
	case C.GGML_LOG_LEVEL_CONT:
	default:
		l.keepLevel = false
	}
	if !l.keepLevel {
		return
	}
	l.buf = append(l.buf, s...)
	if len(l.buf) > logKeep {
		l.buf = append(l.buf[:0], l.buf[len(l.buf)-logKeep/2:]...)
	}
}

// logTake returns the warnings and errors llama.cpp logged since the previous take and forgets
// them. The log is process-wide: calls made concurrently share it.
func logTake() string {
	l := &llamaLog
	l.Lock()
	defer l.Unlock()
	s := strings.TrimSpace(string(l.buf))
	l.buf = l.buf[:0]
	return s
}

// withLog appends what llama.cpp logged to a failure message.
func withLog(msg string) string {
	if s := logTake(); s != "" {
		return msg + ": " + strings.ReplaceAll(s, "\n", "; ")
	}
	return msg + " (llama.cpp logged nothing)"
}
