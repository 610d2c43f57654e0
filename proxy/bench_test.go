package proxy

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time so far. Benchmarks report
// it per op (cpu-ns/op) next to wall time: the client, the backend and the
// proxy share this process and the machine's cores, so wall time swings
// with whatever else runs, while CPU per op shows what a copy mode costs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op for the ops since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// Copy modes the benchmarks compare: read/write only, splice from the first
// byte, and the default (read/write, splice after DefaultSpliceAfter).
var benchModes = []struct {
	name  string
	after int64
}{{"readwrite", -1}, {"splice", 0}, {"default", DefaultSpliceAfter}}

// benchService starts a proxy in front of backend with the copy mode given,
// or returns backend itself for direct (no proxy) runs.
func benchService(b *testing.B, backend string, after int64, direct bool) string {
	if direct {
		return backend
	}
	return startService(b, baseCfg(backend), func(s *Service) {
		s.spliceAfter = after
	}).addr
}

// BenchmarkTCPProxyEcho is small request/response traffic: one op is a
// round trip of a message through the proxy to an echo backend and back.
func BenchmarkTCPProxyEcho(b *testing.B) {
	for _, size := range []int{64, 1024} {
		for _, m := range append([]struct {
			name  string
			after int64
		}{{"direct", 0}}, benchModes...) {
			b.Run(fmt.Sprintf("%s/%dB", m.name, size), func(b *testing.B) {
				be := startBackend(b, echo)
				addr := benchService(b, be.addr, m.after, m.name == "direct")
				b.Run("seq", func(b *testing.B) {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					msg, buf := make([]byte, size), make([]byte, size)
					b.ReportAllocs()
					b.SetBytes(int64(size))
					cpu := cpuTime()
					for b.Loop() {
						if _, err := c.Write(msg); err != nil {
							b.Fatal(err)
						}
						if _, err := io.ReadFull(c, buf); err != nil {
							b.Fatal(err)
						}
					}
					reportCPU(b, cpu)
				})
				b.Run("par16", func(b *testing.B) {
					b.SetParallelism(8) // 8 x GOMAXPROCS (2 here) connections
					b.ReportAllocs()
					b.SetBytes(int64(size))
					var mu sync.Mutex
					var conns []net.Conn
					defer func() {
						for _, c := range conns {
							c.Close()
						}
					}()
					cpu := cpuTime()
					b.RunParallel(func(pb *testing.PB) {
						c, err := net.Dial("tcp", addr)
						if err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						conns = append(conns, c)
						mu.Unlock()
						msg, buf := make([]byte, size), make([]byte, size)
						for pb.Next() {
							if _, err := c.Write(msg); err != nil {
								b.Error(err)
								return
							}
							if _, err := io.ReadFull(c, buf); err != nil {
								b.Error(err)
								return
							}
						}
					})
					reportCPU(b, cpu)
				})
			})
		}
	}
}

// BenchmarkTCPProxyBulk is a bulk upload: one op moves 1 MiB from the
// client through the proxy to a backend that discards it.
func BenchmarkTCPProxyBulk(b *testing.B) {
	modes := append([]struct {
		name  string
		after int64
	}{{"direct", 0}}, benchModes...)
	for _, m := range modes {
		for _, chunk := range []int64{64 << 10, 256 << 10, 1 << 20} {
			if m.name == "direct" || m.name == "readwrite" {
				if chunk != defaultSpliceChunk {
					continue
				}
			}
			b.Run(m.name+"/chunk"+strconv.FormatInt(chunk>>10, 10)+"K", func(b *testing.B) {
				got := make(chan int64, 1)
				be := startBackend(b, func(c net.Conn) {
					n, _ := io.Copy(io.Discard, c)
					got <- n
				})
				addr := be.addr
				if m.name != "direct" {
					addr = startService(b, baseCfg(be.addr), func(s *Service) {
						s.spliceAfter, s.spliceChunk = m.after, chunk
					}).addr
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				data := make([]byte, 1<<20)
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				var n int64
				cpu := cpuTime()
				for b.Loop() {
					if _, err := c.Write(data); err != nil {
						b.Fatal(err)
					}
					n += int64(len(data))
				}
				c.(*net.TCPConn).CloseWrite()
				if r := <-got; r != n {
					b.Fatalf("backend got %d of %d bytes", r, n)
				}
				reportCPU(b, cpu)
			})
		}
	}
}
