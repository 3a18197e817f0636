package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// uringRelay is the epoll relay's loop on io_uring: one locked OS thread,
// one outstanding recv per socket, a send of what it got, and then the
// recv again. Each turn submits every queued SQE and waits for completions
// in a single io_uring_enter, so a busy loop makes one system call for many
// sockets where epoll makes a read and a write per socket. No SQPOLL: its
// kernel thread would do the work off this process's CPU accounting.
//
// io_uring tries a socket op without blocking and, if it would block, arms
// a poll for it (no worker thread), whether the socket is O_NONBLOCK or not;
// so the listener stays as listenFD made it, the rest blocking.
func uringRelay(lfd int, up *net.TCPAddr) error {
	upSA := &syscall.SockaddrInet4{Port: up.Port}
	copy(upSA.Addr[:], up.IP.To4())
	r, err := newRing(4096)
	if err != nil {
		return err
	}
	var pairs []*upair
	var free, toClose []int
	// user_data is slot<<2 | side<<1 | (1 for a send); a slot is reused only
	// once all its CQEs are back, so a tag never reaches the wrong pair.
	queue := func(op uint8, fd int, b []byte, tag uint64) {
		e := r.sqe()
		e.opcode, e.fd, e.userData = op, int32(fd), tag
		if len(b) > 0 {
			e.addr, e.len = uint64(uintptr(unsafe.Pointer(&b[0]))), uint32(len(b))
		}
		if op == opSend {
			e.opFlags = syscall.MSG_NOSIGNAL
		}
	}
	recv := func(i, side int) {
		pairs[i].inflight++
		queue(opRecv, pairs[i].s[side].fd, pairs[i].s[side].buf, uint64(i)<<2|uint64(side)<<1)
	}
	send := func(i, side int) {
		p := pairs[i]
		s := &p.s[side]
		p.inflight++
		queue(opSend, p.s[1-side].fd, s.buf[s.off:s.n], uint64(i)<<2|uint64(side)<<1|1)
	}
	closePair := func(p *upair) {
		p.live = false
		for _, s := range p.s {
			// shutdown, unlike close, ends the ops the kernel holds on the
			// socket. The close waits until this turn's SQEs, which name the
			// fd, are submitted, so a new socket cannot take the number first.
			_ = syscall.Shutdown(s.fd, syscall.SHUT_RDWR)
			toClose = append(toClose, s.fd)
		}
	}
	addPair := func(c int) {
		// A blocking connect, as in the epoll relay: only set-up is slow.
		u, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err == nil {
			err = syscall.Connect(u, upSA)
		}
		if err != nil {
			syscall.Close(c)
			syscall.Close(u) // -1 if there is no socket: harmless
			return
		}
		for _, fd := range []int{c, u} {
			_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		}
		var i int
		if n := len(free); n > 0 {
			i, free = free[n-1], free[:n-1]
		} else {
			i = len(pairs)
			pairs = append(pairs, &upair{s: [2]uside{{buf: make([]byte, 16<<10)}, {buf: make([]byte, 16<<10)}}})
		}
		p := pairs[i]
		p.live, p.s[0].fd, p.s[1].fd = true, c, u
		recv(i, 0)
		recv(i, 1)
	}
	queue(opAccept, lfd, nil, acceptTag)
	for {
		if err := r.enter(1); err != nil {
			return err
		}
		for _, fd := range toClose {
			syscall.Close(fd)
		}
		toClose = toClose[:0]
		head := *r.cqHead
		for tail := atomic.LoadUint32(r.cqTail); head != tail; head++ {
			c := r.cqes[head&r.cqMask]
			if c.userData == acceptTag {
				queue(opAccept, lfd, nil, acceptTag)
				if c.res >= 0 {
					addPair(int(c.res))
				}
				continue
			}
			i, side := int(c.userData>>2), int(c.userData>>1&1)
			p := pairs[i]
			p.inflight--
			switch {
			case !p.live:
			case c.userData&1 == 0 && c.res > 0: // recv: pass it on
				p.s[side].n, p.s[side].off = int(c.res), 0
				send(i, side)
			case c.userData&1 == 1 && c.res > 0: // send: the rest, or the next recv
				s := &p.s[side]
				if s.off += int(c.res); s.off < s.n {
					send(i, side)
				} else {
					recv(i, side)
				}
			default: // EOF or an error on either side ends both
				closePair(p)
			}
			if !p.live && p.inflight == 0 {
				free = append(free, i)
			}
		}
		atomic.StoreUint32(r.cqHead, head)
	}
}

type uside struct {
	fd     int
	buf    []byte // what the kernel receives into; the Go heap does not move
	n, off int    // buf[off:n] is still to be sent to the peer
}

type upair struct {
	s        [2]uside // client, upstream
	live     bool
	inflight int // SQEs whose CQE has not come back
}

const (
	sysIOUringSetup = 425
	sysIOUringEnter = 426
	opAccept        = 13
	opSend          = 26
	opRecv          = 27
	acceptTag       = ^uint64(0)
)

// The kernel's structs (include/uapi/linux/io_uring.h), checked by size.
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqHead, sqTail, sqMask, sqRingEntries, sqFlags, sqDropped, sqArray, _  uint32
	_                                                                      uint64
	cqHead, cqTail, cqMask, cqRingEntries, cqOverflow, cqCQEs, cqFlags, _  uint32
	_                                                                      uint64
}

type uringSQE struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off, addr     uint64
	len, opFlags  uint32
	userData      uint64
	_             [24]byte // buf_index, personality, splice_fd_in, addr3
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

var (
	_ [120]byte = [unsafe.Sizeof(uringParams{})]byte{}
	_ [64]byte  = [unsafe.Sizeof(uringSQE{})]byte{}
	_ [16]byte  = [unsafe.Sizeof(uringCQE{})]byte{}
)

type ring struct {
	fd                             int
	sqHead, sqTail, cqHead, cqTail *uint32 // shared with the kernel
	sqMask, cqMask                 uint32
	sqes                           []uringSQE
	cqes                           []uringCQE
	tail, submitted                uint32 // our SQ tail, and how much of it the kernel took
}

func newRing(entries uint32) (*ring, error) {
	// COOP_TASKRUN: completion work runs when we enter the kernel anyway,
	// not as an interrupt of the loop; measured 0.5-1 us/query cheaper here
	// than no flags or SINGLE_ISSUER|DEFER_TASKRUN. FLOOR_URING_FLAGS
	// overrides it for experiments.
	p := uringParams{flags: 1 << 8}
	if v, err := strconv.ParseUint(os.Getenv("FLOOR_URING_FLAGS"), 0, 32); err == nil {
		p.flags = uint32(v)
	}
	fd, _, e := syscall.Syscall(sysIOUringSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", e)
	}
	if p.features&1 == 0 {
		return nil, errors.New("io_uring: kernel lacks IORING_FEAT_SINGLE_MMAP")
	}
	prot, flags := syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE
	m, err := syscall.Mmap(int(fd), 0, int(max(p.sqArray+p.sqEntries*4, p.cqCQEs+p.cqEntries*16)), prot, flags)
	if err != nil {
		return nil, err
	}
	s, err := syscall.Mmap(int(fd), 0x10000000, int(p.sqEntries)*64, prot, flags)
	if err != nil {
		return nil, err
	}
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&m[off])) }
	r := &ring{fd: int(fd), sqHead: at(p.sqHead), sqTail: at(p.sqTail), cqHead: at(p.cqHead), cqTail: at(p.cqTail),
		sqMask: *at(p.sqMask), cqMask: *at(p.cqMask)}
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&s[0])), p.sqEntries)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&m[p.cqCQEs])), p.cqEntries)
	// SQE i always goes in SQ slot i, so the index array is filled once.
	array := unsafe.Slice(at(p.sqArray), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	return r, nil
}

// sqe returns the next free, zeroed SQE, submitting early if the SQ is full.
func (r *ring) sqe() *uringSQE {
	for r.tail-atomic.LoadUint32(r.sqHead) == uint32(len(r.sqes)) {
		if err := r.enter(0); err != nil {
			panic(err)
		}
	}
	e := &r.sqes[r.tail&r.sqMask]
	*e = uringSQE{}
	r.tail++
	return e
}

// enter submits every queued SQE and, with wait 1, waits for a CQE: wait is
// both min_complete and the flags (IORING_ENTER_GETEVENTS is 1).
func (r *ring) enter(wait uintptr) error {
	atomic.StoreUint32(r.sqTail, r.tail)
	for {
		n, _, e := syscall.Syscall6(sysIOUringEnter, uintptr(r.fd), uintptr(r.tail-r.submitted), wait, wait, 0, 0)
		if e == 0 {
			r.submitted += uint32(n)
			return nil
		}
		if e != syscall.EINTR {
			return fmt.Errorf("io_uring_enter: %w", e)
		}
	}
}
