package gguf

import "errors"

// Sentinel errors; every error the package returns wraps one of these (or an I/O error) with
// the file name and the detail.
var (
	// ErrFormat means the data is not a well-formed GGUF file.
	ErrFormat = errors.New("gguf: malformed file")
	// ErrUnsupported means the file is well-formed but uses something this package does not handle
	// (a version, value type or tensor type).
	ErrUnsupported = errors.New("gguf: unsupported")
	// ErrTooLarge means a count or size in the file exceeds what the file itself can hold.
	ErrTooLarge = errors.New("gguf: size out of range")
)
