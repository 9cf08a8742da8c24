// Command ggufy turns Hugging Face checkpoints into GGUF files for llama.cpp, quantizes them
// exactly as llama-quantize does, and checks the results with a bundled CPU runtime.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Exit codes scripts can rely on.
const (
	exitOK       = 0
	exitError    = 1 // any failure
	exitUsage    = 2 // bad arguments
	exitCheck    = 3 // a validation threshold (--max-kld) was exceeded
	exitCanceled = 130
)

// checkError marks a failed quality check, reported with exitCheck.
type checkError struct{ msg string }

func (e checkError) Error() string { return e.msg }

func newApp() *cli.App {
	return &cli.App{
		Name:                 "ggufy",
		Usage:                "Hugging Face checkpoints to GGUF for llama.cpp: convert, quantize, validate, publish",
		EnableBashCompletion: true,
		Commands: []*cli.Command{
			convertCommand(),
			quantizeCommand(),
			inspectCommand(),
			pplCommand(),
			compareCommand(),
			imatrixCommand(),
			downloadCommand(),
			publishCommand(),
			planCommand(),
		},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	err := app.RunContext(ctx, interspersed(app, os.Args))
	stopProfiles()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce checkError
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "ggufy: interrupted; no partial output was left behind")
		return exitCanceled
	case errors.As(err, &ce):
		fmt.Fprintln(os.Stderr, "ggufy:", err)
		return exitCheck
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		fmt.Fprintln(os.Stderr, "ggufy:", err)
		return ec.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "ggufy:", err)
	return exitError
}

// usageError reports bad command-line arguments.
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), exitUsage)
}

// interspersed moves a subcommand's flags before its positional arguments, so that
// "ggufy convert SRC -o OUT" works as users expect (urfave/cli stops at the first argument).
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	idx := 1
	for ; idx < len(args); idx++ {
		if !strings.HasPrefix(args[idx], "-") {
			cmd = app.Command(args[idx])
			break
		}
	}
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	out := append([]string(nil), args[:idx+1]...)
	var flags, pos []string
	rest := args[idx+1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			name := strings.TrimLeft(a, "-")
			if k, _, hasEq := strings.Cut(name, "="); hasEq {
				name = k
				flags = append(flags, a)
				continue
			}
			flags = append(flags, a)
			if takesValue[name] && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(append(out, flags...), pos...)
}
