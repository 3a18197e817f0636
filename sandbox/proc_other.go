//go:build !unix

package sandbox

import (
	"errors"
	"os/exec"
	"syscall"
)

// The sandbox starts detached Unix processes; elsewhere Up fails at once.
const supported = false

func detach(*exec.Cmd)                 {}
func alive(int) bool                   { return false }
func commandLine(int) string           { return "" }
func signal(int, syscall.Signal) error { return errors.New("not supported") }

const (
	sigTerm = syscall.Signal(15)
	sigKill = syscall.Signal(9)
)
