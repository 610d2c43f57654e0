package importer

import (
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// haBind is one bind line: its addresses and how they are served.
type haBind struct {
	addrs  []netip.AddrPort
	tls    *outTLS
	accept bool
	pos    pos
}

// bindFlags are the bind options without a value.
var bindFlags = map[string]bool{
	"ssl": true, "accept-proxy": true, "v4v6": true, "v6only": true, "transparent": true, "tfo": true,
	"defer-accept": true, "strict-sni": true, "no-sslv3": true, "no-tlsv10": true, "no-tlsv11": true,
	"no-tlsv12": true, "no-tlsv13": true, "allow-0rtt": true, "prefer-client-ciphers": true, "no-tls-tickets": true,
	"force-tlsv12": true, "force-tlsv13": true, "quic-force-retry": true, "expose-fd": true,
}

// bind reads "bind ADDR[,ADDR...] [options]".
func (c *haConverter) bind(px *haProxy, l haLine) {
	if len(l.words) < 2 {
		c.notes.unsupported(l.pos, "bind", "needs an address")
		return
	}
	b := haBind{pos: l.pos}
	for _, a := range strings.Split(l.words[1], ",") {
		ap, ok := parseBindAddr(a)
		if !ok {
			c.notes.unsupported(l.pos, "bind", "%q: vigil listens on IP:PORT (one port, no sockets or names); left out", a)
			continue
		}
		b.addrs = append(b.addrs, ap)
	}
	ssl, alpnH2, minVer := false, false, ""
	var certs []outCert
	opts := l.words[2:]
	for i := 0; i < len(opts); i++ {
		opt, val := opts[i], ""
		if !bindFlags[opt] && i+1 < len(opts) {
			i++
			val = opts[i]
		}
		if !bindFlags[opt] && val == "" {
			c.notes.unsupported(l.pos, opt, "needs a value; left out")
			continue
		}
		switch opt {
		case "ssl":
			ssl = true
		case "crt":
			file := val
			if !path.IsAbs(file) && c.crtBase != "" {
				file = path.Join(c.crtBase, file)
			}
			if !path.IsAbs(file) {
				c.notes.changed(l.pos, "crt", "%q is relative; vigil reads it from its working directory, so make it absolute", file)
			}
			if strings.HasSuffix(file, "/") {
				c.notes.unsupported(l.pos, "crt", "%q is a directory; vigil needs each certificate listed", file)
				continue
			}
			// HAProxy's PEM holds the chain and the key; vigil reads each from the same file.
			certs = append(certs, outCert{Cert: file, Key: file})
		case "alpn":
			alpnH2 = strings.Contains(","+val+",", ",h2,")
		case "accept-proxy":
			b.accept = true
		case "ssl-min-ver":
			switch val {
			case "TLSv1.2":
			case "TLSv1.3":
				minVer = "1.3"
			default:
				c.notes.changed(l.pos, "ssl-min-ver", "vigil accepts TLS 1.2 at the lowest; %s becomes TLSv1.2", val)
			}
		case "no-tlsv12":
			minVer = "1.3"
		case "force-tlsv13":
			minVer = "1.3"
		case "name", "v4v6", "v6only", "tfo", "defer-accept", "no-sslv3", "no-tlsv10", "no-tlsv11", "prefer-client-ciphers",
			"process", "thread", "id", "nice", "backlog", "expose-fd", "level", "mode", "user", "group", "uid", "gid", "allow-0rtt":
			c.notes.ignored(l.pos, opt, "no effect in vigil (it refuses TLS below 1.2 by itself)")
		default:
			c.notes.unsupported(l.pos, opt, "vigil has no such listener option; not converted")
		}
	}
	if ssl || len(certs) > 0 {
		switch {
		case len(certs) == 0:
			c.notes.unsupported(l.pos, "ssl", "no crt given; vigil needs certificate files, so TLS is left out")
		case !ssl:
			c.notes.ignored(l.pos, "crt", "without ssl HAProxy does not terminate TLS; left out")
		default:
			b.tls = &outTLS{Certs: certs, MinVersion: minVer}
			if !alpnH2 {
				b.tls.HTTP2 = boolPtr(false) // HAProxy offers h2 only when alpn names it
			}
		}
	}
	px.binds = append(px.binds, b)
}

// parseBindAddr reads ":80", "*:80", "0.0.0.0:80", "10.0.0.1:80",
// ":::80", "[::]:80" and "ipv6@:80".
func parseBindAddr(s string) (netip.AddrPort, bool) {
	v6 := strings.HasPrefix(s, "ipv6@")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "ipv4@"), "ipv6@")
	if strings.Contains(s, "@") || strings.HasPrefix(s, "/") {
		return netip.AddrPort{}, false
	}
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return netip.AddrPort{}, false
	}
	host, portStr := strings.Trim(s[:i], "[]"), s[i+1:]
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return netip.AddrPort{}, false
	}
	var a netip.Addr
	switch {
	case (host == "" || host == "*") && v6:
		a = netip.IPv6Unspecified()
	case host == "" || host == "*":
		a = netip.IPv4Unspecified()
	default:
		if a, err = netip.ParseAddr(host); err != nil || a.Zone() != "" {
			return netip.AddrPort{}, false
		}
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, uint16(port)), true
}
