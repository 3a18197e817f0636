// floorrelay is the least a Go proxy can do: accept, dial the upstream, and
// copy bytes both ways with io.CopyBuffer through the netpoller, without
// reading the MySQL protocol. bench/run.sh runs sysbench through it next to
// fwdproxy, so each run shows how much of fwdproxy's CPU per query any Go
// relay on this machine pays anyway (the kernel's loopback TCP work and the
// Go scheduler) and how much is fwdproxy's own.
//
//	floorrelay LISTEN UPSTREAM         goroutines and the netpoller, like any Go proxy
//	floorrelay -epoll LISTEN UPSTREAM  one epoll loop on one thread (see epoll.go)
//	floorrelay -uring LISTEN UPSTREAM  the same loop on io_uring, batched (see uring.go)
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
)

func main() {
	if loop, ok := loops[os.Args[min(1, len(os.Args)-1)]]; ok && len(os.Args) == 4 {
		if err := runLoop(loop, os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "floorrelay:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: floorrelay [-epoll|-uring] LISTEN UPSTREAM")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorrelay:", err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "floorrelay:", err)
			os.Exit(1)
		}
		go relay(c, os.Args[2])
	}
}

// relay copies both ways until either side closes. The wrappers hide
// ReadFrom/WriteTo so that the copy is a plain read/write loop (splice(2)
// is slower for small packets), as in a proxy that looks at what it relays.
func relay(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.CopyBuffer(struct{ io.Writer }{u}, struct{ io.Reader }{c}, make([]byte, 16<<10))
		u.Close()
		close(done)
	}()
	_, _ = io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{u}, make([]byte, 16<<10))
	c.Close()
	<-done
}

// loops are the relays that run as one event loop on one locked OS thread,
// with raw system calls and no goroutine per connection.
var loops = map[string]func(lfd int, up *net.TCPAddr) error{"-epoll": epollRelay, "-uring": uringRelay}

func runLoop(loop func(int, *net.TCPAddr) error, listen, upstream string) error {
	runtime.LockOSThread()
	lfd, err := listenFD(listen)
	if err != nil {
		return err
	}
	up, err := net.ResolveTCPAddr("tcp", upstream)
	if err != nil {
		return err
	}
	return loop(lfd, up)
}
