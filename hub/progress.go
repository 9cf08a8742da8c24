package hub

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressSet draws one progressbar per active file plus an overall bar, each on its own
// line: the bars render into per-line buffers and a single goroutine repaints the block.
// A nil *progressSet does nothing.
type progressSet struct {
	w       io.Writer
	mu      sync.Mutex
	lines   []*barLine // active file bars, in start order
	done    []string   // finished lines to print once, above the block
	overall *barLine
	drawn   int // lines drawn last time
	width   int // terminal columns (0: unknown): longer lines would wrap and break the repaint
	stop    chan struct{}
	stopped chan struct{}
}

// barLine holds the last line a progressbar rendered.
type barLine struct {
	set  *progressSet
	bar  *progressbar.ProgressBar
	mu   sync.Mutex
	text string
}

func (l *barLine) Write(p []byte) (int, error) {
	s := string(p)
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:]
	}
	s = stripANSI(strings.TrimRight(s, " \n"))
	if s != "" {
		l.mu.Lock()
		l.text = s
		l.mu.Unlock()
	}
	return len(p), nil
}

func (l *barLine) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text
}

func newProgressSet(w io.Writer, title string, total int64) *progressSet {
	if w == nil {
		return nil
	}
	s := &progressSet{w: w, stop: make(chan struct{}), stopped: make(chan struct{}), width: termWidth(w)}
	s.overall = s.newLine(title, total)
	go s.loop()
	return s
}

func (s *progressSet) newLine(desc string, size int64) *barLine {
	l := &barLine{set: s}
	l.bar = progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(l),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionUseIECUnits(true),
	)
	l.bar.RenderBlank()
	return l
}

// file starts a bar for one file; the returned line's bar counts bytes.
func (s *progressSet) file(name string, size, already int64) *barLine {
	if s == nil {
		return nil
	}
	l := s.newLine(shortName(name), size)
	if already > 0 {
		l.bar.Add64(already)
	}
	s.mu.Lock()
	s.lines = append(s.lines, l)
	s.mu.Unlock()
	return l
}

// add counts n bytes on a file bar and on the overall bar.
func (s *progressSet) add(l *barLine, n int64) {
	if s == nil {
		return
	}
	if l != nil {
		l.bar.Add64(n)
	}
	s.overall.bar.Add64(n)
}

// undo takes back n bytes (a download restarted from zero).
func (s *progressSet) undo(l *barLine, n int64) {
	if s == nil || n == 0 {
		return
	}
	if l != nil {
		l.bar.Set64(max(0, l.bar.State().CurrentNum-n))
	}
	s.overall.bar.Set64(max(0, s.overall.bar.State().CurrentNum-n))
}

// finish removes a file bar, leaving its final line above the block.
func (s *progressSet) finish(l *barLine, failed bool) {
	if s == nil || l == nil {
		return
	}
	if !failed {
		l.bar.Finish()
	}
	s.mu.Lock()
	for i, x := range s.lines {
		if x == l {
			s.lines = append(s.lines[:i], s.lines[i+1:]...)
			break
		}
	}
	if !failed {
		s.done = append(s.done, l.String())
	}
	s.mu.Unlock()
}

func (s *progressSet) loop() {
	defer close(s.stopped)
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.paint()
			return
		case <-t.C:
			s.paint()
		}
	}
}

func (s *progressSet) paint() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	if s.drawn > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA", s.drawn)
	}
	for _, d := range s.done {
		b.WriteString("\x1b[2K" + s.fit(d) + "\n")
	}
	s.done = s.done[:0]
	for _, l := range s.lines {
		b.WriteString("\x1b[2K" + s.fit(l.String()) + "\n")
	}
	b.WriteString("\x1b[2K" + s.fit(s.overall.String()) + "\n")
	s.drawn = len(s.lines) + 1
	io.WriteString(s.w, b.String())
}

// close paints the final state and stops the painter.
func (s *progressSet) close() {
	if s == nil {
		return
	}
	close(s.stop)
	<-s.stopped
}

// fit cuts a line to the terminal's width.
func (s *progressSet) fit(line string) string {
	if s.width <= 1 {
		return line
	}
	r := []rune(line)
	if len(r) < s.width {
		return line
	}
	return string(r[:s.width-1])
}

func shortName(p string) string {
	if len(p) > 40 {
		return "…" + p[len(p)-39:]
	}
	return p
}

func stripANSI(s string) string {
	if !strings.Contains(s, "\x1b[") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
