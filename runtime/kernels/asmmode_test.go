package kernels

// asmMode is one choice of kernel implementation for tests: the pure-Go reference, and the
// assembly where the build and the CPU have it.
type asmMode struct {
	name string
	on   bool
}

// set selects the mode and returns a function that restores the previous one.
func (m asmMode) set() func() {
	old := useAsm
	useAsm = m.on
	return func() { useAsm = old }
}

// asmModes lists the implementations this build can run.
func asmModes() []asmMode {
	modes := []asmMode{{"go", false}}
	if haveAsm {
		modes = append(modes, asmMode{"asm", true})
	}
	return modes
}
