package h2

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

var errStreamGone = errors.New("stream is closed or was never opened")

// WriteHeaders queues the response head of stream id: :status and fields,
// in HEADERS plus CONTINUATION frames split at the client's
// SETTINGS_MAX_FRAME_SIZE. Pseudo-header and connection-specific fields
// in fields are dropped, and names are lower-cased, so a head copied from
// an HTTP/1.1 response may be passed as is. A 1xx status may precede the
// final one; end sets END_STREAM (a response without body).
func (c *Conn) WriteHeaders(id uint32, status int, fields []hpack.HeaderField, end bool) error {
	st, err := c.writable(id)
	if err != nil {
		return err
	}
	if st.final {
		return fmt.Errorf("h2: stream %d: response head already sent", id)
	}
	if status < 100 || status > 999 || (status < 200 && end) {
		return fmt.Errorf("h2: stream %d: invalid status %d", id, status)
	}
	c.hbuf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusText(status)})
	c.encodeFields(fields)
	c.writeBlock(id, c.hbuf.Bytes(), end)
	if status >= 200 {
		st.final = true
	}
	if end {
		c.endedLocal(st)
	}
	return nil
}

// WriteTrailers queues a trailer block, which ends stream id. Fields are
// filtered as in WriteHeaders.
func (c *Conn) WriteTrailers(id uint32, fields []hpack.HeaderField) error {
	st, err := c.writable(id)
	if err != nil {
		return err
	}
	if !st.final {
		return fmt.Errorf("h2: stream %d: trailers before the response head", id)
	}
	c.hbuf.Reset()
	c.encodeFields(fields)
	c.writeBlock(id, c.hbuf.Bytes(), true)
	c.endedLocal(st)
	return nil
}

// writable returns stream id if we may still send on it.
func (c *Conn) writable(id uint32) (*stream, error) {
	if c.err != nil {
		return nil, c.err
	}
	st := c.streams[id]
	if st == nil || st.endLocal {
		return nil, fmt.Errorf("h2: stream %d: %w", id, errStreamGone)
	}
	return st, nil
}

func (c *Conn) encodeFields(fields []hpack.HeaderField) {
	for _, f := range fields {
		if strings.HasPrefix(f.Name, ":") {
			continue
		}
		if hasUpper(f.Name) {
			f.Name = strings.ToLower(f.Name)
		}
		if connectionSpecific(f.Name) {
			continue
		}
		c.enc.WriteField(hpack.HeaderField{Name: f.Name, Value: f.Value, Sensitive: f.Sensitive})
	}
}

// writeBlock queues an encoded header block as HEADERS and CONTINUATION
// frames no larger than the client accepts.
func (c *Conn) writeBlock(id uint32, block []byte, end bool) {
	max := int(c.peerMaxFrame)
	first := block[:min(len(block), max)]
	block = block[len(first):]
	c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID:      id,
		BlockFragment: first,
		EndStream:     end,
		EndHeaders:    len(block) == 0,
	})
	for len(block) > 0 {
		frag := block[:min(len(block), max)]
		block = block[len(frag):]
		c.fr.WriteContinuation(id, len(block) == 0, frag)
	}
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// statusText spells the common statuses without allocating.
func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 204:
		return "204"
	case 206:
		return "206"
	case 301:
		return "301"
	case 302:
		return "302"
	case 304:
		return "304"
	case 400:
		return "400"
	case 403:
		return "403"
	case 404:
		return "404"
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	case 504:
		return "504"
	}
	return strconv.Itoa(code)
}
