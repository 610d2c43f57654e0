// Package arp tells a layer-2 segment that this node now owns some
// addresses: gratuitous ARP for IPv4 and unsolicited Neighbor
// Advertisements for IPv6, sent when a VRRP instance becomes master so
// that switches relearn the port and clients repoint their neighbour
// caches at once instead of waiting for their entries to expire.
//
// The frames are byte-for-byte what keepalived sends (checked against
// keepalived 2.2.7 on the wire; see frame.go), so mixed clusters and
// existing switch tuning behave the same. Frame building is pure and
// tested without privileges; the Announcer is the thin part that owns a
// raw socket.
package arp
