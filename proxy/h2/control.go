package h2

import (
	"errors"

	"golang.org/x/net/http2"
)

// onSettings applies the client's SETTINGS in order and acknowledges them.
func (c *Conn) onSettings(f *http2.SettingsFrame) {
	if f.IsAck() {
		c.onSettingsAck()
		return
	}
	grew := false
	for i := 0; i < f.NumSettings(); i++ {
		s := f.Setting(i)
		if err := s.Valid(); err != nil {
			code := http2.ErrCodeProtocol
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				code = http2.ErrCode(ce)
			}
			c.fail(code, "invalid "+s.ID.String()+" setting")
			return
		}
		switch s.ID {
		case http2.SettingHeaderTableSize:
			c.enc.SetMaxDynamicTableSize(s.Val)
		case http2.SettingInitialWindowSize:
			// RFC 9113 §6.9.2: every stream's send window moves by the
			// difference, possibly below zero; each value in turn.
			delta := int64(s.Val) - c.peerInitWindow
			c.peerInitWindow = int64(s.Val)
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > maxWindow {
					c.fail(http2.ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window")
					return
				}
			}
			grew = grew || delta > 0
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = s.Val
		}
		// Unknown settings are ignored (RFC 9113 §6.5.2); we push
		// nothing, so the client's stream limit and ENABLE_PUSH do not
		// matter, and its header list limit is advisory.
	}
	c.fr.WriteSettingsAck()
	if grew {
		c.notifyStreams()
	}
}

// onSettingsAck shrinks the receive windows of streams opened before the
// client saw a StreamWindow below the protocol's initial 65535.
func (c *Conn) onSettingsAck() {
	if c.settingsAcked {
		return
	}
	c.settingsAcked = true
	if delta := int64(c.cfg.StreamWindow) - initialWindow; delta < 0 {
		for _, st := range c.streams {
			st.recvWindow += delta
		}
	}
}

// notifyStreams tells the handler about every stream that may send again.
// The ids are collected first because Writable may close streams.
func (c *Conn) notifyStreams() {
	c.ids = c.ids[:0]
	for id, st := range c.streams {
		if !st.endLocal && st.sendWindow > 0 {
			c.ids = append(c.ids, id)
		}
	}
	for _, id := range c.ids {
		if c.err != nil {
			return
		}
		if st := c.streams[id]; st != nil && !st.endLocal {
			c.h.Writable(id)
		}
	}
}

func (c *Conn) onWindowUpdate(f *http2.WindowUpdateFrame) {
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		if c.connSend+inc > maxWindow {
			c.fail(http2.ErrCodeFlowControl, "connection send window overflow")
			return
		}
		c.connSend += inc
		c.h.Writable(0)
		return
	}
	if c.idle(f.StreamID) {
		c.fail(http2.ErrCodeProtocol, "WINDOW_UPDATE on idle stream")
		return
	}
	st := c.streams[f.StreamID]
	if st == nil {
		return // closed: RFC 9113 §5.1 lets WINDOW_UPDATE arrive late
	}
	if st.sendWindow+inc > maxWindow {
		c.streamError(st.id, http2.ErrCodeFlowControl)
		return
	}
	st.sendWindow += inc
	if !st.endLocal {
		c.h.Writable(st.id)
	}
}

func (c *Conn) onRSTStream(f *http2.RSTStreamFrame) {
	if c.idle(f.StreamID) {
		c.fail(http2.ErrCodeProtocol, "RST_STREAM on idle stream")
		return
	}
	if st := c.streams[f.StreamID]; st != nil {
		c.drop(st)
		c.h.Reset(f.StreamID, f.ErrCode)
	}
}
