//go:build unix

package chaos

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is a child process of the driver, in a process group of its own.
// Its standard input is a pipe the driver holds: when the driver dies the
// pipe ends and the child exits (on Linux the kernel also SIGKILLs it, even
// stopped).
type process struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed once it exited and was waited for
	state *os.ProcessState
}

// startProcess starts bin with args, its standard output to stdout (nil:
// discarded) and its standard error appended to the file errPath.
func startProcess(name, bin string, args []string, stdout io.Writer, errPath string) (*process, error) {
	errFile, err := os.OpenFile(errPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer errFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout = stdout
	cmd.Stderr = errFile
	cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true", "GOTRACEBACK=all")
	cmd.SysProcAttr = procAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		cmd.Wait() // the state is in cmd.ProcessState
		p.state = cmd.ProcessState
		close(p.done)
	}()
	return p, nil
}

// signal sends sig to the process's group.
func (p *process) signal(sig syscall.Signal) error {
	err := syscall.Kill(-p.cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // gone already
	}
	return err
}

// exited reports whether the process exited (and was waited for).
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits at most d for the process to exit, and reports whether it did.
func (p *process) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// kill SIGKILLs the process group (continuing it first, should it be
// stopped) and waits for the process.
func (p *process) kill() {
	p.signal(syscall.SIGCONT)
	p.signal(syscall.SIGKILL)
	p.stdin.Close()
	<-p.done
}

// how says how the process ended: its exit code, and a description.
func (p *process) how() (int, string) {
	st := p.state
	if st == nil {
		return -1, "not waited for"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, "signal: " + ws.Signal().String()
	}
	return st.ExitCode(), fmt.Sprintf("exit status %d", st.ExitCode())
}
