package vm

import (
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"syscall"
)

// cpioWriter writes a cpio archive in the "newc" format, the one the
// kernel unpacks as an initramfs. The standard library has no cpio writer
// and the format is tiny, so it is written here rather than shelling out
// to cpio(1), whose output depends on the files' owners and times.
//
// Every entry gets its own inode number and nlink 1 (2 for directories):
// the kernel treats regular files with nlink > 1 and equal inode numbers as
// hard links, which would silently merge unrelated files. Owners are root
// and times are zero, so the same input gives the same bytes.
type cpioWriter struct {
	w    io.Writer
	ino  uint32
	dirs map[string]bool // directories written so far, to add parents once
	err  error
}

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: w, ino: 1000, dirs: map[string]bool{"": true, ".": true, "/": true}}
}

// header writes one entry's header and name, padded to 4 bytes.
func (c *cpioWriter) header(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32) {
	if c.err != nil {
		return
	}
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" {
		name = "."
	}
	if name != "TRAILER!!!" {
		c.parents(name)
	}
	nlink := uint32(1)
	if mode&syscall.S_IFMT == syscall.S_IFDIR {
		nlink = 2
	}
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(hdr + name + "\x00"))
	c.pad(int64(len(hdr) + len(name) + 1))
}

// parents writes the directories above name that are not in the archive
// yet: the kernel's unpacker does not create missing parents.
func (c *cpioWriter) parents(name string) {
	dir := path.Dir(name)
	if c.dirs[dir] {
		return
	}
	c.dirs[dir] = true
	c.header(dir, syscall.S_IFDIR|0o755, 0, 0, 0)
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

// pad writes the zeros that align the next record to 4 bytes after n bytes.
func (c *cpioWriter) pad(n int64) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// Dir adds a directory.
func (c *cpioWriter) Dir(name string, perm uint32) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if c.dirs[name] {
		return
	}
	c.dirs[name] = true
	c.header(name, syscall.S_IFDIR|perm, 0, 0, 0)
}

// File adds a regular file with the given contents.
func (c *cpioWriter) File(name string, perm uint32, data []byte) {
	c.header(name, syscall.S_IFREG|perm, int64(len(data)), 0, 0)
	c.write(data)
	c.pad(int64(len(data)))
}

// CopyFile adds the regular file at src under name, streaming it so a
// large test binary is not held in memory twice.
func (c *cpioWriter) CopyFile(name string, perm uint32, src string) {
	if c.err != nil {
		return
	}
	f, err := os.Open(src)
	if err != nil {
		c.err = err
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		c.err = err
		return
	}
	c.header(name, syscall.S_IFREG|perm, st.Size(), 0, 0)
	if c.err != nil {
		return
	}
	n, err := io.Copy(c.w, f)
	if err == nil && n != st.Size() {
		err = fmt.Errorf("%s changed size while being archived", src)
	}
	if err != nil {
		c.err = err
		return
	}
	c.pad(n)
}

// Symlink adds a symbolic link to target.
func (c *cpioWriter) Symlink(name, target string) {
	c.header(name, syscall.S_IFLNK|0o777, int64(len(target)), 0, 0)
	c.write([]byte(target))
	c.pad(int64(len(target)))
}

// CharDev adds a character device node.
func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) {
	c.header(name, syscall.S_IFCHR|perm, 0, major, minor)
}

// Close writes the trailer. It does not close the underlying writer.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	return c.err
}
