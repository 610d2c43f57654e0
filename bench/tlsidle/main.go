// Command tlsidle holds idle TLS client connections open, for bench/tls.sh
// to read what they cost a proxy in memory: it opens -n connections to
// each address, sends one keep-alive HTTP/1.1 request on each (so each is
// a served client, not a bare handshake), prints "ready" and keeps them
// until its standard input closes.
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
)

func main() {
	n := flag.Int("n", 1000, "connections per address")
	flag.Parse()
	var conns []*tls.Conn
	var mu sync.Mutex
	for _, addr := range flag.Args() {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		errs := make(chan error, *n)
		for range *n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, err := open(addr)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			fmt.Fprintf(os.Stderr, "tlsidle: %s: %v\n", addr, err)
			os.Exit(1)
		}
	}
	fmt.Println("ready", len(conns))
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// open makes one connection and has one request served on it.
func open(addr string) (*tls.Conn, error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, nil
}
