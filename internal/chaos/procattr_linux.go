package chaos

import "syscall"

// procAttr puts a child in a process group of its own, and has the kernel
// SIGKILL it when the driver's thread that started it dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
