// Command bench measures ggufy against llama.cpp on one checkpoint, in one run, and prints wall
// seconds, ratios and peak RSS (scripts/bench.sh builds the programs and runs it):
//
//   - convert:  ggufy convert SRC --outtype f16  vs  python3 convert_hf_to_gguf.py SRC --outtype f16
//   - onecmd:   ggufy convert SRC --outtype f16 -q Q4_K_M,Q5_K_M,Q8_0  vs  the converter to F16,
//     then llama-quantize once per variant (llama_model_quantize, same thread count)
//   - quantize: ggufy quantize F16.gguf OUT TYPE  vs  llama_model_quantize, for each of -quant
//
// Every output is compared (sha256) with llama.cpp's. Peak RSS is the child's ru_maxrss from
// wait4 (what /usr/bin/time -v reports: anonymous and file-backed pages, mapped input included);
// peak anonymous RSS is polled from /proc/PID/status. The machine is shared: the ratios of one
// run are the result, with the load average recorded beside them; nothing here asserts a time.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Run is one measured process.
type Run struct {
	Name      string   `json:"name"`
	Args      []string `json:"args"`
	WallS     float64  `json:"wall_s"`
	CPUS      float64  `json:"cpu_s"` // user + system
	PeakRSS   int64    `json:"peak_rss_bytes"`
	PeakAnon  int64    `json:"peak_anon_rss_bytes"`
	MajFlt    int64    `json:"major_faults"`      // page faults that read the disk
	ReadBytes int64    `json:"read_bytes"`        // ru_inblock: bytes read from the disk
	Others    float64  `json:"others_load_cores"` // CPU cores other processes used meanwhile
	Outputs   []string `json:"outputs,omitempty"`
	OutputSHA []string `json:"output_sha256,omitempty"`
	Log       string   `json:"log"`
}

// Comparison is one benchmark: ggufy's side against llama.cpp's (each one or more runs).
type Comparison struct {
	Bench       string  `json:"bench"`
	GgufyWallS  float64 `json:"ggufy_wall_s"`
	LlamaWallS  float64 `json:"llamacpp_wall_s"`
	Speedup     float64 `json:"speedup"` // llama.cpp wall / ggufy wall
	GgufyCPUS   float64 `json:"ggufy_cpu_s"`
	LlamaCPUS   float64 `json:"llamacpp_cpu_s"`
	CPURatio    float64 `json:"cpu_ratio"` // llama.cpp CPU / ggufy CPU
	GgufyOthers float64 `json:"ggufy_others_load_cores"`
	LlamaOthers float64 `json:"llamacpp_others_load_cores"`
	GgufyRSS    int64   `json:"ggufy_peak_rss_bytes"`
	LlamaRSS    int64   `json:"llamacpp_peak_rss_bytes"` // max over its runs
	GgufyAnon   int64   `json:"ggufy_peak_anon_rss_bytes"`
	LlamaAnon   int64   `json:"llamacpp_peak_anon_rss_bytes"`
	Identical   bool    `json:"byte_identical"`
	GgufyRuns   []*Run  `json:"ggufy_runs"`
	LlamaRuns   []*Run  `json:"llamacpp_runs"`
	Description string  `json:"description"`
}

// Report is the JSON written with -json.
type Report struct {
	Date        string        `json:"date"`
	Host        Host          `json:"host"`
	Commit      string        `json:"commit"`
	Source      string        `json:"source"`
	SourceBytes int64         `json:"source_bytes"`
	Threads     int           `json:"threads"`
	LoadBefore  string        `json:"loadavg_before"`
	LoadAfter   string        `json:"loadavg_after"`
	Comparisons []*Comparison `json:"comparisons"`
}

// Host describes the machine.
type Host struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	MemBytes int64  `json:"mem_bytes"`
	Go       string `json:"go"`
}

type config struct {
	src, work, ggufy, llamaquant, converter, shim, python, commit string
	threads                                                       int
	variants, quant                                               []string
	benches                                                       map[string]bool
	keep                                                          bool
}

func main() {
	var c config
	flag.StringVar(&c.src, "src", "", "checkpoint directory (required; see bench/synth)")
	flag.StringVar(&c.work, "work", "", "directory for outputs and logs (default: SRC.bench)")
	flag.StringVar(&c.ggufy, "ggufy", "bin/ggufy", "ggufy binary")
	flag.StringVar(&c.llamaquant, "llamaquant", "bin/llamaquant", "bench/llamaquant binary (llama_model_quantize)")
	flag.StringVar(&c.converter, "converter", ".cache/llamacpp/src/convert_hf_to_gguf.py", "llama.cpp's convert_hf_to_gguf.py")
	flag.StringVar(&c.shim, "shim", "bench/convert_hf.py", "runner that stubs what the converter's imports miss")
	flag.StringVar(&c.python, "python", "/usr/bin/python3", "python with torch, numpy, sentencepiece")
	flag.IntVar(&c.threads, "threads", runtime.NumCPU(), "quantization threads, the same for ggufy and llama.cpp")
	variants := flag.String("variants", "Q4_K_M,Q5_K_M,Q8_0", "onecmd: the variants of the one command")
	quant := flag.String("quant", "Q4_K_M,Q8_0", "quantize: the types of the whole-model quantize benchmark")
	benches := flag.String("bench", "convert,onecmd,quantize", "benchmarks to run")
	jsonOut := flag.String("json", "", "write the report as JSON here (default: WORK/bench.json)")
	flag.BoolVar(&c.keep, "keep", false, "keep the GGUF outputs")
	flag.StringVar(&c.commit, "commit", "", "the ggufy revision measured, for the report")
	flag.Parse()
	if c.src == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: bench -src CHECKPOINT [flags]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if c.work == "" {
		c.work = strings.TrimSuffix(c.src, "/") + ".bench"
	}
	if *jsonOut == "" {
		*jsonOut = filepath.Join(c.work, "bench.json")
	}
	c.variants, c.quant = splitList(*variants), splitList(*quant)
	c.benches = map[string]bool{}
	for _, b := range splitList(*benches) {
		if b != "convert" && b != "onecmd" && b != "quantize" {
			fail(fmt.Errorf("unknown benchmark %q (want convert, onecmd, quantize)", b))
		}
		c.benches[b] = true
	}
	rep, err := run(c)
	if rep != nil {
		printReport(os.Stdout, rep)
		if b, jerr := json.MarshalIndent(rep, "", "  "); jerr == nil {
			if werr := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, "bench:", werr)
			} else {
				fmt.Println("report:", *jsonOut)
			}
		}
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run(c config) (*Report, error) {
	for _, p := range []string{c.ggufy, c.llamaquant, c.converter, c.shim, c.python} {
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(c.work, "logs"), 0o755); err != nil {
		return nil, err
	}
	rep := &Report{Date: time.Now().UTC().Format(time.RFC3339), Host: host(), Commit: c.commit, Source: c.src, Threads: c.threads}
	var err error
	if rep.SourceBytes, err = warm(c.src); err != nil {
		return nil, err
	}
	rep.LoadBefore = loadavg()
	defer func() { rep.LoadAfter = loadavg() }()
	th := strconv.Itoa(c.threads)
	llamaF16 := filepath.Join(c.work, "llamacpp-F16.gguf")
	defer func() {
		if !c.keep {
			os.Remove(llamaF16)
		}
	}()

	// llama.cpp's converter: the convert benchmark's reference and the first step of the
	// sequence the one command replaces. warm has just read the checkpoint.
	pyConvert, err := measure(c, nil, "llamacpp convert f16", c.python, c.shim, c.converter, c.src, "--outtype", "f16", "--outfile", llamaF16)
	if err != nil {
		return rep, err
	}
	if err := hashOutputs(pyConvert, llamaF16); err != nil {
		return rep, err
	}

	if c.benches["convert"] {
		out := filepath.Join(c.work, "ggufy-F16.gguf")
		r, err := measure(c, []string{c.src}, "ggufy convert f16", c.ggufy, "convert", c.src, "--outtype", "f16", "-o", out, "--quiet")
		if err != nil {
			return rep, err
		}
		if err := hashOutputs(r, out); err != nil {
			return rep, err
		}
		c.remove(out)
		rep.Comparisons = append(rep.Comparisons, compare("convert", "convert to F16: ggufy convert --outtype f16 vs convert_hf_to_gguf.py --outtype f16", []*Run{r}, []*Run{pyConvert}, []*Run{pyConvert}))
	}

	// llama-quantize once per type that a benchmark needs, each followed by ggufy quantize
	// when the quantize benchmark covers the type (back to back, so both see the same load).
	var types []string
	if c.benches["onecmd"] {
		types = append(types, c.variants...)
	}
	if c.benches["quantize"] {
		for _, t := range c.quant {
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	llamaQ := map[string]*Run{}
	var qg, ql []*Run
	var qt []string
	for _, t := range types {
		out := filepath.Join(c.work, "llamacpp-"+t+".gguf")
		r, err := measure(c, []string{llamaF16}, "llama_model_quantize "+t, c.llamaquant, "-threads", th, llamaF16, out, t)
		if err != nil {
			return rep, err
		}
		if err := hashOutputs(r, out); err != nil {
			return rep, err
		}
		c.remove(out)
		llamaQ[t] = r
		if c.benches["quantize"] && slices.Contains(c.quant, t) {
			gout := filepath.Join(c.work, "ggufy-"+t+".gguf")
			g, err := measure(c, []string{llamaF16}, "ggufy quantize "+t, c.ggufy, "quantize", "--threads", th, "--quiet", llamaF16, gout, t)
			if err != nil {
				return rep, err
			}
			if err := hashOutputs(g, gout); err != nil {
				return rep, err
			}
			c.remove(gout)
			qg, ql, qt = append(qg, g), append(ql, r), append(qt, t)
		}
	}
	if c.benches["quantize"] {
		for i := range qg {
			rep.Comparisons = append(rep.Comparisons, compare("quantize "+qt[i], "whole-model quantize of the F16 GGUF: ggufy quantize vs llama_model_quantize, "+th+" threads", qg[i:i+1], ql[i:i+1], ql[i:i+1]))
		}
	}

	if c.benches["onecmd"] {
		dir := filepath.Join(c.work, "ggufy-variants")
		os.RemoveAll(dir)
		r, err := measure(c, []string{c.src}, "ggufy convert -q", c.ggufy, "convert", c.src, "--outtype", "f16", "-q", strings.Join(c.variants, ","), "-o", dir, "--threads", th, "--quiet")
		if err != nil {
			return rep, err
		}
		var outs []string
		for _, t := range c.variants {
			m, _ := filepath.Glob(filepath.Join(dir, "*-"+t+".gguf"))
			if len(m) != 1 {
				return rep, fmt.Errorf("ggufy convert -q: want one *-%s.gguf in %s, found %v", t, dir, m)
			}
			outs = append(outs, m[0])
		}
		if err := hashOutputs(r, outs...); err != nil {
			return rep, err
		}
		if !c.keep {
			os.RemoveAll(dir)
		}
		seq := []*Run{pyConvert}
		for _, t := range c.variants {
			seq = append(seq, llamaQ[t])
		}
		rep.Comparisons = append(rep.Comparisons, compare("onecmd", "checkpoint to "+strings.Join(c.variants, ", ")+": ggufy convert -q (one pass) vs convert_hf_to_gguf.py to F16, then llama-quantize per variant", []*Run{r}, seq, seq[1:]))
	}
	return rep, nil
}

func (c config) remove(path string) {
	if !c.keep {
		os.Remove(path)
	}
}

// compare sums each side's runs (a sequence runs one after the other) and takes the peak RSS
// over them; outputs are identical when ggufy's hashes are those of the ref runs of llama.cpp,
// output for output.
func compare(name, desc string, g, l, ref []*Run) *Comparison {
	c := &Comparison{Bench: name, Description: desc, GgufyRuns: g, LlamaRuns: l}
	for _, r := range g {
		c.GgufyWallS += r.WallS
		c.GgufyCPUS += r.CPUS
		c.GgufyRSS = max(c.GgufyRSS, r.PeakRSS)
		c.GgufyAnon = max(c.GgufyAnon, r.PeakAnon)
	}
	for _, r := range l {
		c.LlamaWallS += r.WallS
		c.LlamaCPUS += r.CPUS
		c.LlamaRSS = max(c.LlamaRSS, r.PeakRSS)
		c.LlamaAnon = max(c.LlamaAnon, r.PeakAnon)
	}
	for _, r := range g {
		c.GgufyOthers += r.Others * r.WallS / max(c.GgufyWallS, 1e-9)
	}
	for _, r := range l {
		c.LlamaOthers += r.Others * r.WallS / max(c.LlamaWallS, 1e-9)
	}
	if c.GgufyWallS > 0 {
		c.Speedup = c.LlamaWallS / c.GgufyWallS
	}
	if c.GgufyCPUS > 0 {
		c.CPURatio = c.LlamaCPUS / c.GgufyCPUS
	}
	var gs, ls []string
	for _, r := range g {
		gs = append(gs, r.OutputSHA...)
	}
	for _, r := range ref {
		ls = append(ls, r.OutputSHA...)
	}
	c.Identical = len(gs) > 0 && slices.Equal(gs, ls)
	return c
}

// measure runs one command with its output in WORK/logs and returns its wall time, CPU time,
// peak RSS (ru_maxrss) and peak anonymous RSS (polled).
func measure(c config, warmPaths []string, name string, prog string, args ...string) (*Run, error) {
	for _, p := range warmPaths {
		if _, err := warm(p); err != nil {
			return nil, err
		}
	}
	r := &Run{Name: name, Args: append([]string{prog}, args...), Log: filepath.Join(c.work, "logs", strings.ReplaceAll(name, " ", "_")+".log")}
	logf, err := os.Create(r.Log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(os.Stderr, "bench: %s ...", name)
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	busy0 := busySeconds()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	anon := make(chan int64)
	go func() { anon <- pollAnon(cmd.Process.Pid, stop) }()
	err = cmd.Wait()
	r.WallS = time.Since(start).Seconds()
	close(stop)
	r.PeakAnon = <-anon
	busy := busySeconds() - busy0
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSS = ru.Maxrss * 1024
		r.CPUS = tv(ru.Utime) + tv(ru.Stime)
		r.MajFlt = ru.Majflt
		r.ReadBytes = ru.Inblock * 512
	}
	if busy0 >= 0 && r.WallS > 0 {
		r.Others = max(0, busy-r.CPUS) / r.WallS
	}
	fmt.Fprintf(os.Stderr, " %.1fs, %.1f CPU-s, peak RSS %s, others' load %.1f cores\n", r.WallS, r.CPUS, mib(r.PeakRSS), r.Others)
	if err != nil {
		return r, fmt.Errorf("%s: %v (log: %s)", name, err, r.Log)
	}
	return r, nil
}

// busySeconds is the machine's non-idle CPU time so far (all cores, /proc/stat), or -1.
func busySeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return -1
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return float64(busy) / 100 // USER_HZ
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// pollAnon samples RssAnon of pid every 20 ms until stop is closed.
func pollAnon(pid int, stop <-chan struct{}) int64 {
	path := fmt.Sprintf("/proc/%d/status", pid)
	var peak int64
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					peak = max(peak, kb*1024)
				}
			}
		}
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

func hashOutputs(r *Run, paths ...string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		r.Outputs = append(r.Outputs, filepath.Base(p))
		r.OutputSHA = append(r.OutputSHA, hex.EncodeToString(h.Sum(nil)))
	}
	return nil
}

// warm reads a file, or the files of a directory, so that the measured run finds them in the
// page cache whatever ran before (a multi-GB run writes enough to evict its input). It returns
// the bytes of .safetensors files read.
func warm(dir string) (int64, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return 0, err
	}
	if !st.IsDir() {
		f, err := os.Open(dir)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		_, err = io.CopyBuffer(io.Discard, f, make([]byte, 4<<20))
		return 0, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	buf := make([]byte, 4<<20)
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return 0, err
		}
		k, err := io.CopyBuffer(io.Discard, f, buf)
		f.Close()
		if err != nil {
			return 0, err
		}
		if strings.HasSuffix(e.Name(), ".safetensors") {
			n += k
		}
	}
	if n == 0 {
		return 0, errors.New("no .safetensors in " + dir)
	}
	return n, nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func host() Host {
	h := Host{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				h.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		h.MemBytes = kb * 1024
	}
	return h
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func printReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "\n%s  %s, %d cores, %.0f GiB, %s\n", r.Date, r.Host.CPU, r.Host.Cores, float64(r.Host.MemBytes)/(1<<30), r.Host.Go)
	fmt.Fprintf(w, "ggufy %s, source %s (%.2f GB of tensors), %d threads, load average %s before, %s after\n\n", r.Commit, r.Source, float64(r.SourceBytes)/1e9, r.Threads, r.LoadBefore, r.LoadAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "benchmark\tggufy s\tllama.cpp s\tspeedup\tggufy CPU s\tllama.cpp CPU s\tCPU ratio\tggufy peak RSS\tllama.cpp peak RSS\tggufy peak anon\tllama.cpp peak anon\tothers' load\tidentical\t")
	for _, c := range r.Comparisons {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.2fx\t%.1f\t%.1f\t%.2fx\t%s\t%s\t%s\t%s\t%.1f / %.1f\t%v\t\n", c.Bench, c.GgufyWallS, c.LlamaWallS, c.Speedup,
			c.GgufyCPUS, c.LlamaCPUS, c.CPURatio, mib(c.GgufyRSS), mib(c.LlamaRSS), mib(c.GgufyAnon), mib(c.LlamaAnon), c.GgufyOthers, c.LlamaOthers, c.Identical)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nspeedup = llama.cpp wall / ggufy wall; llama.cpp's onecmd is the sum of its runs, its peak RSS the largest")
	fmt.Fprintln(w, "CPU ratio = llama.cpp CPU-s / ggufy CPU-s (user + system; less sensitive to the machine's load than wall time)")
	fmt.Fprintln(w, "peak RSS = ru_maxrss (anonymous + file-backed, mapped inputs included); peak anon = polled RssAnon")
	fmt.Fprintln(w, "others' load = CPU cores used by other processes during ggufy's / llama.cpp's runs (/proc/stat)")
}
