//go:build unix

package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

const supported = true

// detach puts the child in a session of its own, so that the terminal's
// Ctrl-C and hang-up do not reach it once `up` has returned.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }

// alive: the process exists and is not a zombie (an orphan may stay one
// where nothing reaps it).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// pid (comm) STATE …; comm may contain spaces and parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
			st := b[i+2]
			return st != 'Z' && st != 'X'
		}
		return true
	} else if _, err := os.Stat("/proc/self/stat"); err == nil {
		return false // Linux, and the process is gone
	}
	return syscall.Kill(pid, 0) == nil
}

// commandLine is the process's command line with arguments joined by
// spaces, or "" when it cannot be read.
func commandLine(pid int) string {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		return strings.ReplaceAll(string(b), "\x00", " ")
	} else if _, err := os.Stat("/proc/self/cmdline"); err == nil {
		return ""
	}
	out, err := exec.Command("ps", "-o", "args=", "-p", fmt.Sprint(pid)).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

func signal(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)
