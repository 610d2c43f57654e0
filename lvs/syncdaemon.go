package lvs

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The kernel's IPVS connection sync daemon, driven over generic netlink as
// `ipvsadm --start-daemon` does. moby/ipvs has no daemon commands, so the
// messages are built here with vishvananda/netlink's nl package (already a
// dependency). Values from include/uapi/linux/ip_vs.h.
const (
	ipvsGenlVersion = 1

	ipvsCmdNewDaemon = 9  // IPVS_CMD_NEW_DAEMON
	ipvsCmdDelDaemon = 10 // IPVS_CMD_DEL_DAEMON
	ipvsCmdGetDaemon = 11 // IPVS_CMD_GET_DAEMON

	ipvsCmdAttrDaemon = 3 // IPVS_CMD_ATTR_DAEMON, nested

	ipvsDaemonAttrState    = 1 // IPVS_DAEMON_ATTR_STATE, u32
	ipvsDaemonAttrMcastIfn = 2 // IPVS_DAEMON_ATTR_MCAST_IFN, NUL-terminated string
	ipvsDaemonAttrSyncID   = 3 // IPVS_DAEMON_ATTR_SYNC_ID, u32

	ifNameMax = 16 // IP_VS_IFNAME_MAXLEN, with the NUL
)

// SyncRole is the role of a kernel IPVS sync daemon.
type SyncRole uint32

const (
	// SyncMaster sends the connections this node balances to the group
	// (IP_VS_STATE_MASTER): the role of the node holding the VIP.
	SyncMaster SyncRole = 1
	// SyncBackup receives a master's connections and installs them in the
	// local table (IP_VS_STATE_BACKUP), so they go on after a failover.
	SyncBackup SyncRole = 2
)

func (r SyncRole) String() string {
	switch r {
	case SyncMaster:
		return "master"
	case SyncBackup:
		return "backup"
	}
	return fmt.Sprintf("role(%d)", uint32(r))
}

// SyncDaemon is one kernel sync daemon: its role, the interface its
// multicast traffic (224.0.0.81:8848) uses, and the sync id that tells
// clusters sharing a segment apart.
type SyncDaemon struct {
	Role      SyncRole
	Interface string
	ID        uint8
}

func (d SyncDaemon) String() string {
	return fmt.Sprintf("%s on %s syncid %d", d.Role, d.Interface, d.ID)
}

// StartSyncDaemon starts the kernel's sync daemon in role on iface with
// sync id id, in the network namespace of the calling thread. Starting a
// daemon that already runs with the same settings succeeds; one of the same
// role with other settings is an error (ReconcileSync restarts it).
func StartSyncDaemon(role SyncRole, iface string, id uint8) error {
	want := SyncDaemon{Role: role, Interface: iface, ID: id}
	if err := checkSyncDaemon(want); err != nil {
		return fmt.Errorf("lvs sync: start %s daemon on %s: %w", role, iface, err)
	}
	err := unanswered(ipvsCmdNewDaemon, want, func(running []SyncDaemon) bool { return slices.Contains(running, want) })
	if errors.Is(err, syscall.EEXIST) {
		running, rerr := SyncDaemons()
		if rerr != nil {
			return fmt.Errorf("lvs sync: start %s daemon on %s: %w (and reading the running one: %v)", role, iface, err, rerr)
		}
		for _, d := range running {
			if d == want {
				return nil
			}
			if d.Role == role {
				return fmt.Errorf("lvs sync: start %s daemon on %s: already running as %s", role, iface, d)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("lvs sync: start %s daemon on %s: %w", role, iface, err)
	}
	return nil
}

// StopSyncDaemon stops the kernel's sync daemon of role, in the network
// namespace of the calling thread. Stopping one that does not run succeeds.
func StopSyncDaemon(role SyncRole) error {
	err := unanswered(ipvsCmdDelDaemon, SyncDaemon{Role: role}, func(running []SyncDaemon) bool {
		return !slices.ContainsFunc(running, func(d SyncDaemon) bool { return d.Role == role })
	})
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("lvs sync: stop %s daemon: %w", role, err)
	}
	return nil
}

// unanswered sends a start or stop of d and copes with the kernel not
// answering (see ackTimeout): it reads the daemons back, and done on what
// it reads means the request took effect; otherwise it sends it again, a
// few times, before giving up with EAGAIN.
func unanswered(cmd uint8, d SyncDaemon, done func([]SyncDaemon) bool) error {
	var err error
	for range 3 {
		if err = execDaemon(cmd, d, cmd == ipvsCmdNewDaemon); !errors.Is(err, unix.EAGAIN) {
			return err
		}
		running, rerr := SyncDaemons()
		if rerr != nil {
			return fmt.Errorf("%w (and reading back: %v)", err, rerr)
		}
		if done(running) {
			return nil
		}
	}
	return fmt.Errorf("%w: no answer from the kernel, %d tries", err, 3)
}

// SyncDaemons reads back the sync daemons running in the network namespace
// of the calling thread (none, a master, a backup, or both).
func SyncDaemons() ([]SyncDaemon, error) {
	req, err := daemonRequest(ipvsCmdGetDaemon, unix.NLM_F_DUMP, nil)
	if err != nil {
		return nil, fmt.Errorf("lvs sync: read daemons: %w", err)
	}
	msgs, err := execute(req)
	if err != nil {
		return nil, fmt.Errorf("lvs sync: read daemons: %w", err)
	}
	var out []SyncDaemon
	for _, m := range msgs {
		d, err := decodeDaemon(m)
		if err != nil {
			return nil, fmt.Errorf("lvs sync: read daemons: %w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

func checkSyncDaemon(d SyncDaemon) error {
	if d.Role != SyncMaster && d.Role != SyncBackup {
		return fmt.Errorf("unknown role %d", uint32(d.Role))
	}
	if d.Interface == "" || len(d.Interface) >= ifNameMax {
		return fmt.Errorf("interface name %q: want 1..%d bytes", d.Interface, ifNameMax-1)
	}
	return nil
}

func execDaemon(cmd uint8, d SyncDaemon, settings bool) error {
	req, err := daemonRequest(cmd, unix.NLM_F_ACK, encodeDaemon(d, settings))
	if err != nil {
		return err
	}
	_, err = execute(req)
	return err
}

// ackTimeout bounds the wait for the kernel's answer. The kernel handles a
// request inside the send, so the answer is queued by the time the send
// returns; but on Debian's 6.1 kernel about one stop of a master daemon in
// ten was seen never acknowledged, the daemon stopped all the same (the
// cause is not established; one candidate is an -EINTR from kthread_stop,
// which netlink_rcv_skb does not acknowledge).
// vishvananda/netlink would wait its default 60 s, holding up the role
// switch and vigil's shutdown; after ackTimeout the callers read the
// daemons back instead (EAGAIN).
const ackTimeout = 2 * time.Second

// execute sends req on a socket of its own, in the calling thread's
// network namespace, and waits at most ackTimeout for each answer.
func execute(req *nl.NetlinkRequest) ([][]byte, error) {
	sock, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_GENERIC)
	if err != nil {
		return nil, err
	}
	defer sock.Close()
	tv := unix.NsecToTimeval(ackTimeout.Nanoseconds())
	if err := sock.SetSendTimeout(&tv); err != nil {
		return nil, err
	}
	if err := sock.SetReceiveTimeout(&tv); err != nil {
		return nil, err
	}
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_GENERIC: {Socket: sock}}
	return req.Execute(unix.NETLINK_GENERIC, 0)
}

// daemonRequest is a request to the IPVS family carrying attrs (the nested
// daemon attribute, or nothing). The family's id is looked up each time:
// it is assigned when ip_vs loads, and these calls are rare.
func daemonRequest(cmd uint8, flags int, attrs *nl.RtAttr) (*nl.NetlinkRequest, error) {
	fam, err := netlink.GenlFamilyGet("IPVS")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req := nl.NewNetlinkRequest(int(fam.ID), flags)
	req.AddData(&nl.Genlmsg{Command: cmd, Version: ipvsGenlVersion})
	if attrs != nil {
		req.AddData(attrs)
	}
	return req, nil
}

// encodeDaemon builds the nested IPVS_CMD_ATTR_DAEMON of d: the state
// alone (which daemon to stop), or with the interface and sync id too.
func encodeDaemon(d SyncDaemon, settings bool) *nl.RtAttr {
	a := nl.NewRtAttr(ipvsCmdAttrDaemon|unix.NLA_F_NESTED, nil)
	a.AddRtAttr(ipvsDaemonAttrState, nl.Uint32Attr(uint32(d.Role)))
	if settings {
		a.AddRtAttr(ipvsDaemonAttrMcastIfn, nl.ZeroTerminated(d.Interface))
		a.AddRtAttr(ipvsDaemonAttrSyncID, nl.Uint32Attr(uint32(d.ID)))
	}
	return a
}

// decodeDaemon reads one GET_DAEMON reply: a genetlink header, then the
// nested daemon attribute. Attributes newer kernels add (sync_maxlen,
// multicast group, port, TTL) are skipped.
func decodeDaemon(msg []byte) (SyncDaemon, error) {
	if len(msg) < nl.SizeofGenlmsg {
		return SyncDaemon{}, fmt.Errorf("daemon reply of %d bytes is shorter than its header", len(msg))
	}
	attrs, err := parseAttrs(msg[nl.SizeofGenlmsg:])
	if err != nil {
		return SyncDaemon{}, fmt.Errorf("daemon reply: %w", err)
	}
	for _, a := range attrs {
		if a.typ != ipvsCmdAttrDaemon {
			continue
		}
		inner, err := parseAttrs(a.value)
		if err != nil {
			return SyncDaemon{}, fmt.Errorf("daemon attribute: %w", err)
		}
		var d SyncDaemon
		var seen int
		for _, ia := range inner {
			switch ia.typ {
			case ipvsDaemonAttrState:
				if len(ia.value) != 4 {
					return SyncDaemon{}, fmt.Errorf("daemon state of %d bytes", len(ia.value))
				}
				d.Role = SyncRole(nl.NativeEndian().Uint32(ia.value))
				seen |= 1
			case ipvsDaemonAttrMcastIfn:
				d.Interface = unix.ByteSliceToString(ia.value)
				seen |= 2
			case ipvsDaemonAttrSyncID:
				if len(ia.value) != 4 {
					return SyncDaemon{}, fmt.Errorf("daemon sync id of %d bytes", len(ia.value))
				}
				d.ID = uint8(nl.NativeEndian().Uint32(ia.value))
				seen |= 4
			}
		}
		if seen != 7 {
			return SyncDaemon{}, fmt.Errorf("daemon attribute lacks state, interface or sync id (%+v)", d)
		}
		return d, nil
	}
	return SyncDaemon{}, errors.New("daemon reply without a daemon attribute")
}

// attr is one netlink attribute, its type without the nested and
// byte-order flags.
type attr struct {
	typ   uint16
	value []byte
}

// parseAttrs splits b into netlink attributes. Unlike nl.ParseRouteAttr
// it accepts a last attribute without its padding and never panics on a
// short buffer: replies are input, and decodeDaemon is fuzzed.
func parseAttrs(b []byte) ([]attr, error) {
	var out []attr
	for len(b) > 0 {
		if len(b) < unix.SizeofRtAttr {
			return nil, fmt.Errorf("%d stray bytes after the attributes", len(b))
		}
		n := int(nl.NativeEndian().Uint16(b[0:2]))
		if n < unix.SizeofRtAttr || n > len(b) {
			return nil, fmt.Errorf("attribute length %d out of range (%d bytes left)", n, len(b))
		}
		typ := nl.NativeEndian().Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		out = append(out, attr{typ: typ, value: b[unix.SizeofRtAttr:n]})
		b = b[min((n+unix.NLA_ALIGNTO-1)&^(unix.NLA_ALIGNTO-1), len(b)):]
	}
	return out, nil
}
