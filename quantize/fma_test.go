package quantize

import (
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// fusedOp matches the fused multiply-add instructions of the architectures Go may fuse on.
var fusedOp = regexp.MustCompile(`^(V?FN?M(ADD|SUB)\w*|WFN?M[AS][SD]B)$`)

// asmLine matches a line of the compiler's -S listing: position, then mnemonic.
var asmLine = regexp.MustCompile(`\(([^()\s]+\.go):(\d+)\)\s+(\S+)`)

// TestNoFusedMultiplyAdd compiles the package for the architectures where Go fuses x*y+z and
// fails on any fused instruction: ggml (the x86-64 build that is the reference) rounds every
// product, so a fused one changes the encoded bytes. The cure is an explicit float32(...) around
// the product.
func TestNoFusedMultiplyAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the package")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	for _, target := range [][]string{
		{"GOARCH=amd64", "GOAMD64=v3"}, {"GOARCH=arm64"}, {"GOARCH=ppc64le"}, {"GOARCH=s390x"},
		{"GOARCH=riscv64"}, {"GOARCH=loong64"},
	} {
		cmd := exec.Command(goBin, "build", "-gcflags=-S", "-o", os.DevNull, ".")
		cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), target...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: go build: %v\n%s", target, err, out)
		}
		found := map[string]bool{}
		for _, line := range strings.Split(string(out), "\n") {
			m := asmLine.FindStringSubmatch(line)
			if m != nil && fusedOp.MatchString(m[3]) && !strings.HasSuffix(m[1], "_test.go") {
				found[m[1][strings.LastIndexByte(m[1], '/')+1:]+":"+m[2]+" "+m[3]] = true
			}
		}
		if len(found) > 0 {
			var where []string
			for k := range found {
				where = append(where, k)
			}
			sort.Strings(where)
			t.Errorf("%v: fused multiply-add at\n  %s", target, strings.Join(where, "\n  "))
		}
	}
}
