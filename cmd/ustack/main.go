// Command ustack runs ustack, the user-space TCP/IP stack, from the command
// line.
//
//	ustack bench [-w workload] [-mtu N] [-runs N] [-json FILE]   measure ustack on two in-process stacks
//	ustack serve --tap NAME --addr CIDR …   serve echo, discard, chargen and HTTP on a TAP device
//	ustack trace [-size 4M] [-rtt 40ms] …   draw one simulated TCP transfer's cwnd, RTT and goodput as SVG
//
// Run `ustack serve -h` for the flags of a subcommand.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ustack-go/ustack/cmd/ustack/internal/bench"
	"github.com/ustack-go/ustack/cmd/ustack/internal/serve"
	"github.com/ustack-go/ustack/cmd/ustack/internal/trace"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usage is the help text of the command.
const usage = `usage: ustack <command> [flags]

Commands:
  bench   run the throughput, latency and memory workloads on two ustack
          stacks in this process and print a table
          (` + bench.Usage + `)
  serve   bring ustack up on a TAP device and serve echo and discard (UDP
          and TCP), chargen and HTTP (TCP)
          (` + serve.Usage + `)
  trace   run one TCP transfer in the simulator and draw the sender's
          cwnd, RTT and goodput over time as SVG (` + trace.Usage + `)

Run "ustack <command> -h" for a command's flags.
`

// run runs the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "bench":
		return bench.Main(args[1:], stdout, stderr)
	case "serve":
		// SIGINT and SIGTERM stop the server cleanly; a second one
		// kills the process as usual, since stop restores the default
		// handling once the context is done.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		go func() {
			<-ctx.Done()
			stop()
		}()
		return serve.Main(ctx, args[1:], stdout, stderr)
	case "trace":
		return trace.Main(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ustack: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
