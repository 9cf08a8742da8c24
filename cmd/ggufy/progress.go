package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressOut returns where progress bars go: stderr when it is a terminal and not quiet.
func progressOut(quiet bool) io.Writer {
	if quiet || !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return os.Stderr
}

// newBar returns a byte-counting progress bar, or nil when w is nil.
func newBar(w io.Writer, total int64, desc string) *progressbar.ProgressBar {
	if w == nil {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionOnCompletion(func() { io.WriteString(w, "\n") }),
	)
}

// barFunc adapts a bar to convert.Options.Progress.
func barFunc(bar *progressbar.ProgressBar) func(done, total int64) {
	if bar == nil {
		return nil
	}
	return func(done, total int64) { bar.Set64(done) }
}
