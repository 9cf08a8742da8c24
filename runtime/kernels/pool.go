package kernels

import (
	"sync"
)

// Pool is a fixed set of worker goroutines that MatMul splits its rows over. Idle workers block
// on a channel; they never spin, because the cores are shared with other work. A Pool is safe for
// use by one MatMul at a time from any goroutine; concurrent calls are serialized.
type Pool struct {
	n    int
	mu   sync.Mutex // one parallel section at a time
	jobs chan poolJob
	wg   sync.WaitGroup // the current section's outstanding parts
	done sync.WaitGroup // the workers, for Close
	once sync.Once
}

type poolJob struct {
	fn   func(part int)
	part int
}

// NewPool starts a pool of n workers (the calling goroutine counts as one of them, so n-1
// goroutines are started). n < 1 means 1.
func NewPool(n int) *Pool {
	n = max(n, 1)
	p := &Pool{n: n, jobs: make(chan poolJob, n)}
	p.done.Add(n - 1)
	for range n - 1 {
		go p.worker()
	}
	return p
}

func (p *Pool) worker() {
	defer p.done.Done()
	for j := range p.jobs {
		j.fn(j.part)
		p.wg.Done()
	}
}

// Size returns the number of workers; a nil pool has one.
func (p *Pool) Size() int {
	if p == nil {
		return 1
	}
	return p.n
}

// Close stops the workers. The pool must not be used afterwards.
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.once.Do(func() {
		p.mu.Lock()
		close(p.jobs)
		p.mu.Unlock()
		p.done.Wait()
	})
}

// Run calls fn(0), ..., fn(parts-1), spread over the workers, and returns when all have returned.
// The caller runs part 0 itself. A nil pool runs them in order on the caller.
func (p *Pool) Run(parts int, fn func(part int)) {
	if parts <= 0 {
		return
	}
	if p == nil || p.n == 1 || parts == 1 {
		for i := range parts {
			fn(i)
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		p.jobs <- poolJob{fn: fn, part: i}
	}
	fn(0)
	p.wg.Wait()
}
