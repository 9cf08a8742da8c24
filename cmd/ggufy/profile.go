package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Profiling for the benchmarks (BENCHMARKS.md): GGUFY_CPUPROFILE=FILE writes a CPU profile of
// the whole command, GGUFY_MEMPROFILE=FILE a heap profile at its end; read them with
// go tool pprof.
var cpuProfile *os.File

func init() {
	path := os.Getenv("GGUFY_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ggufy: GGUFY_CPUPROFILE:", err)
		return
	}
	cpuProfile = f
}

// stopProfiles finishes the profiles asked for in the environment; main calls it before exiting.
func stopProfiles() {
	if cpuProfile != nil {
		pprof.StopCPUProfile()
		cpuProfile.Close()
		cpuProfile = nil
	}
	if path := os.Getenv("GGUFY_MEMPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			runtime.GC()
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ggufy: GGUFY_MEMPROFILE:", err)
		}
	}
}
