package main

import (
	"net"
	"syscall"
	"unsafe"
)

// epollRelay is the same relay as an event loop on one locked OS thread:
// level-triggered epoll, non-blocking sockets, raw read/write system calls,
// no goroutine per connection. It measures what is left when the Go
// scheduler and netpoller are taken out: the floor for a proxy built like
// ProxySQL's worker threads.
func epollRelay(lfd int, up *net.TCPAddr) error {
	ep, err := syscall.EpollCreate1(0)
	if err != nil {
		return err
	}
	if err := epollAdd(ep, lfd); err != nil {
		return err
	}
	peer := map[int]int{} // fd -> the other side
	buf := make([]byte, 16<<10)
	events := make([]syscall.EpollEvent, 128)
	closePair := func(fd int) {
		o := peer[fd]
		for _, f := range []int{fd, o} {
			_ = syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, f, nil)
			_ = syscall.Close(f)
			delete(peer, f)
		}
	}
	for {
		n, err := syscall.EpollWait(ep, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == lfd {
				if c, u, err := acceptPair(lfd, up); err == nil {
					peer[c], peer[u] = u, c
					_ = epollAdd(ep, c)
					_ = epollAdd(ep, u)
				}
				continue
			}
			o, ok := peer[fd]
			if !ok {
				continue
			}
			m, err := rawRead(fd, buf)
			if err == syscall.EAGAIN {
				continue
			}
			if m <= 0 || err != nil || writeAll(o, buf[:m]) != nil {
				closePair(fd)
			}
		}
	}
}

func listenFD(addr string) (int, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return -1, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, err
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	sa := &syscall.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	if err := syscall.Bind(fd, sa); err != nil {
		return -1, err
	}
	return fd, syscall.Listen(fd, 1024)
}

// acceptPair accepts a client and connects it to the upstream (a blocking
// connect: only set-up is slow, not the relay).
func acceptPair(lfd int, up *net.TCPAddr) (int, int, error) {
	c, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK)
	if err != nil {
		return -1, -1, err
	}
	u, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		sa := &syscall.SockaddrInet4{Port: up.Port}
		copy(sa.Addr[:], up.IP.To4())
		if err = syscall.Connect(u, sa); err == nil {
			err = syscall.SetNonblock(u, true)
		}
	}
	if err != nil {
		syscall.Close(c)
		return -1, -1, err
	}
	for _, fd := range []int{c, u} {
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}
	return c, u, nil
}

func epollAdd(ep, fd int) error {
	return syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)})
}

// writeAll writes b, waiting with poll(2) when the socket buffer is full.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := rawWrite(fd, b)
		if err == syscall.EAGAIN {
			fds := []pollFd{{fd: int32(fd), events: 4 /* POLLOUT */}}
			if _, _, e := syscall.Syscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&fds[0])), 1, 1000); e != 0 && e != syscall.EINTR {
				return e
			}
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

// rawRead and rawWrite skip the runtime's syscall bookkeeping, as a C
// event loop would; the sockets are non-blocking.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
