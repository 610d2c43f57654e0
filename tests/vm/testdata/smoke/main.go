// Command smoke proves the VM harness gives a payload a kernel with
// working IPVS and network namespaces: it creates an IPVS TCP service with
// the rr scheduler and two destinations and reads them back, then makes a
// namespace joined by a veth pair and talks TCP across it. It exits 0
// only when all of that worked and prints "smoke: ok".
//
// With the arguments "exit CODE [WORDS...]" it prints its arguments, one
// per line in brackets, and exits with CODE instead: the harness's tests
// use that to check arguments and exit status pass through unchanged.
// With the argument "hang" it prints "hanging" and never exits, for the
// harness's timeout test.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "exit" {
		for _, a := range os.Args[2:] {
			fmt.Printf("arg [%s]\n", a)
		}
		fmt.Printf("env VIGIL_IN_VM=[%s]\n", os.Getenv("VIGIL_IN_VM"))
		code, _ := strconv.Atoi(os.Args[2])
		os.Exit(code)
	}
	if len(os.Args) == 2 && os.Args[1] == "hang" {
		fmt.Println("hanging")
		time.Sleep(time.Hour)
	}
	if err := checkIPVS(); err != nil {
		fmt.Println("smoke: ipvs:", err)
		os.Exit(1)
	}
	fmt.Println("smoke: ipvs service with two destinations read back")
	if err := checkNetns(); err != nil {
		fmt.Println("smoke: netns:", err)
		os.Exit(1)
	}
	fmt.Println("smoke: TCP across a veth pair into a new namespace")
	fmt.Println("smoke: ok")
}

func checkIPVS() error {
	h, err := ipvs.New("")
	if err != nil {
		return err
	}
	defer h.Close()
	svc := &ipvs.Service{
		Address: net.ParseIP("10.90.0.1").To4(), Protocol: unix.IPPROTO_TCP, Port: 80,
		SchedName: "rr", AddressFamily: unix.AF_INET, Netmask: 0xffffffff,
	}
	if err := h.NewService(svc); err != nil {
		return fmt.Errorf("new service: %v", err)
	}
	want := map[string]int{"10.90.1.1": 1, "10.90.1.2": 2}
	for addr, weight := range want {
		d := &ipvs.Destination{
			Address: net.ParseIP(addr).To4(), Port: 8080, Weight: weight,
			ConnectionFlags: ipvs.ConnectionFlagMasq, AddressFamily: unix.AF_INET,
		}
		if err := h.NewDestination(svc, d); err != nil {
			return fmt.Errorf("new destination %s: %v", addr, err)
		}
	}
	// moby/ipvs reports success on a kernel without IPVS, so only what
	// reads back counts.
	svcs, err := h.GetServices()
	if err != nil {
		return fmt.Errorf("get services: %v", err)
	}
	if len(svcs) != 1 || !svcs[0].Address.Equal(svc.Address) || svcs[0].Port != 80 || svcs[0].SchedName != "rr" {
		return fmt.Errorf("services read back: %+v", svcs)
	}
	dsts, err := h.GetDestinations(svcs[0])
	if err != nil {
		return fmt.Errorf("get destinations: %v", err)
	}
	if len(dsts) != len(want) {
		return fmt.Errorf("%d destinations read back, want %d", len(dsts), len(want))
	}
	for _, d := range dsts {
		if w, ok := want[d.Address.String()]; !ok || d.Weight != w || d.Port != 8080 {
			return fmt.Errorf("destination read back: %+v", d)
		}
	}
	return h.DelService(svc)
}

func checkNetns() error {
	// Namespace switches apply to the calling thread only.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	ns, err := netns.NewNamed("smoke") // switches this thread into it
	if err != nil {
		return fmt.Errorf("new namespace: %v", err)
	}
	defer netns.DeleteNamed("smoke")
	defer ns.Close()
	if err := netns.Set(orig); err != nil {
		return err
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "smoke0"}, PeerName: "smoke1"}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth: %v", err)
	}
	peer, err := netlink.LinkByName("smoke1")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		return fmt.Errorf("move peer: %v", err)
	}
	// Only the route protocol: a handle with the default list also opens
	// XFRM, which fails where xfrm_user is not loaded.
	nh, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("handle in namespace: %v", err)
	}
	defer nh.Close()
	rh, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer rh.Close()
	if err := setUp(rh, "smoke0", "10.91.0.1/24"); err != nil {
		return err
	}
	if err := setUp(nh, "smoke1", "10.91.0.2/24"); err != nil {
		return err
	}
	if lo, err := nh.LinkByName("lo"); err != nil || nh.LinkSetUp(lo) != nil {
		return fmt.Errorf("lo in namespace: %v", err)
	}
	// A listener opened while the thread is in the namespace stays there.
	if err := netns.Set(ns); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "10.91.0.2:7000")
	netns.Set(orig)
	if err != nil {
		return fmt.Errorf("listen in namespace: %v", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.WriteString(c, "hello from the namespace")
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", "10.91.0.2:7000", 5*time.Second)
	if err != nil {
		return fmt.Errorf("dial across veth: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello from the namespace" {
		return fmt.Errorf("read across veth: %q, %v", got, err)
	}
	return nil
}

// setUp gives the link named name in the handle's namespace an address and
// brings it up.
func setUp(h *netlink.Handle, name, cidr string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	if err := h.AddrAdd(l, addr); err != nil {
		return fmt.Errorf("%s address: %v", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s up: %v", name, err)
	}
	return nil
}
