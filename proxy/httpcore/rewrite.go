package httpcore

import "strconv"

// Forwarding is what the proxy tells a backend about the client:
// X-Forwarded-For, -Proto and -Host, when Add is set.
type Forwarding struct {
	Add      bool
	ClientIP string
	Proto    string // http or https
}

// AppendRequestHead appends the request head for the backend to w:
// hop-by-hop fields dropped (RFC 9110 7.6.1), a single canonical
// Content-Length, Upgrade kept for upgrade requests only, X-Forwarded-*
// written as fwd says (the client's own claims of proto and host are not
// passed on).
func AppendRequestHead(w []byte, r *Head, fwd Forwarding) []byte {
	w = append(w, r.Bytes(r.Method)...)
	w = append(w, ' ')
	w = append(w, r.Bytes(r.Target)...)
	if r.Minor == 0 {
		w = append(w, " HTTP/1.0\r\n"...)
	} else {
		w = append(w, " HTTP/1.1\r\n"...)
	}
	upgrade := r.UpgradeRequested()
	var xff []byte
	for i := range r.Fields {
		f := &r.Fields[i]
		if f.Drop {
			continue
		}
		switch f.Kind {
		case KindConnection, KindHop:
			continue
		case KindContentLength:
			w = appendLength(w, r, f)
			continue
		case KindExpect:
			if r.ExpectContinue {
				continue // answered by the proxy
			}
		case KindUpgrade:
			if !upgrade {
				continue
			}
		case KindXFF:
			if fwd.Add {
				if xff == nil {
					xff = r.Bytes(f.Value)
					continue
				}
				// several fields: the earlier ones go as they are; the
				// last gets the client appended
				w = appendField(w, r.Bytes(f.Name), xff)
				xff = r.Bytes(f.Value)
				continue
			}
		case KindXFProto, KindXFHost:
			if fwd.Add {
				continue
			}
		}
		w = appendField(w, r.Bytes(f.Name), r.Bytes(f.Value))
	}
	if upgrade {
		w = append(w, "Connection: Upgrade\r\n"...)
	}
	if fwd.Add {
		w = append(w, "X-Forwarded-For: "...)
		if len(xff) > 0 {
			w = append(w, xff...)
			w = append(w, ", "...)
		}
		w = append(w, fwd.ClientIP...)
		w = append(w, "\r\nX-Forwarded-Proto: "...)
		w = append(w, fwd.Proto...)
		w = append(w, "\r\n"...)
		if r.HasHost {
			w = append(w, "X-Forwarded-Host: "...)
			w = append(w, r.Bytes(r.Host)...)
			w = append(w, "\r\n"...)
		}
	}
	return append(w, "\r\n"...)
}

// appendLength writes a Content-Length field with its value as a plain
// number, whatever list or leading zeros it came with.
func appendLength(w []byte, h *Head, f *Field) []byte {
	w = append(w, h.Bytes(f.Name)...)
	w = append(w, ": "...)
	w = strconv.AppendInt(w, h.ContentLength, 10)
	return append(w, "\r\n"...)
}

// AppendResponseHead appends the response head for the client to w:
// hop-by-hop fields dropped, a single canonical Content-Length, the sticky
// cookie line added when setCookie is not nil, Connection: close when
// closing.
func AppendResponseHead(w []byte, p *Head, setCookie []byte, closing bool) []byte {
	w = append(w, "HTTP/1.1 "...)
	w = append(w, p.Bytes(p.StatusText)...)
	w = append(w, "\r\n"...)
	upgrade := p.Status == 101
	for i := range p.Fields {
		f := &p.Fields[i]
		if f.Drop {
			continue
		}
		switch f.Kind {
		case KindConnection, KindHop:
			continue
		case KindContentLength:
			w = appendLength(w, p, f)
			continue
		case KindUpgrade:
			if !upgrade {
				continue
			}
		}
		w = appendField(w, p.Bytes(f.Name), p.Bytes(f.Value))
	}
	if upgrade {
		w = append(w, "Connection: Upgrade\r\n"...)
	}
	w = append(w, setCookie...)
	if closing && p.Status >= 200 {
		w = append(w, "Connection: close\r\n"...)
	}
	return append(w, "\r\n"...)
}

// EndToEnd reports whether field i of a response goes to an HTTP/2
// client: hop-by-hop fields and the framing fields do not (HTTP/2 frames
// the body itself).
func (h *Head) EndToEnd(i int) bool {
	f := &h.Fields[i]
	if f.Drop {
		return false
	}
	switch f.Kind {
	case KindConnection, KindHop, KindUpgrade, KindTransferEncoding:
		return false
	}
	return true
}
