package capture

// framer cuts a byte stream of MySQL packets (headers included) into
// logical packets, keeping only each one's first headBytes: a packet of
// the maximum size continues in the next. It feeds a Response.
type framer struct {
	hdr    [4]byte
	nhdr   int  // header bytes read of the current fragment
	left   int  // payload bytes of the current fragment still to come
	cont   bool // the current logical packet continues in another fragment
	size   int  // the logical packet's length so far
	head   [headBytes]byte
	nhead  int
	inBody bool
}

// write feeds p; each complete logical packet goes to emit.
func (f *framer) write(p []byte, emit func(head []byte, n int)) {
	for len(p) > 0 {
		if !f.inBody {
			k := copy(f.hdr[f.nhdr:], p)
			f.nhdr += k
			p = p[k:]
			if f.nhdr < 4 {
				return
			}
			f.nhdr, f.inBody = 0, true
			f.left = int(f.hdr[0]) | int(f.hdr[1])<<8 | int(f.hdr[2])<<16
			f.cont = f.left == maxPayload
			f.size += f.left
		}
		k := min(f.left, len(p))
		if f.nhead < headBytes {
			f.nhead += copy(f.head[f.nhead:], p[:k])
		}
		f.left -= k
		p = p[k:]
		if f.left > 0 {
			return
		}
		f.inBody = false
		if !f.cont {
			emit(f.head[:f.nhead], f.size)
			f.size, f.nhead = 0, 0
		}
	}
}
