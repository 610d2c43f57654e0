package importer

import (
	"net"
	"strconv"
	"strings"
)

// email turns global_defs' notification_email, notification_email_from and
// smtp_server into alerts.email. keepalived mails only for instances and
// checkers with smtp_alert; vigil mails every event once mail is set up.
func (c *kaConverter) email(g *kaNode, lines []*kaNode) {
	if len(lines) == 0 {
		return
	}
	e := &outEmail{}
	for _, n := range lines {
		switch n.key {
		case "notification_email":
			for _, k := range n.kids {
				for _, to := range append([]string{k.key}, k.args...) {
					if validMailbox(to) {
						e.To = append(e.To, to)
					} else {
						c.notes.unsupported(k.pos, to, "not an e-mail address (user@domain); left out of alerts.email.to")
					}
				}
			}
		case "notification_email_from":
			if validMailbox(n.arg(0)) {
				e.From = n.arg(0)
			} else {
				c.notes.unsupported(n.pos, n.key, "%q is not an e-mail address (user@domain)", n.arg(0))
			}
		case "smtp_server":
			port := 25
			if len(n.args) > 1 {
				p, err := strconv.Atoi(n.arg(1))
				if err != nil || p < 1 || p > 65535 {
					c.notes.unsupported(n.pos, n.key, "%q is not a port; 25 is used", n.arg(1))
				} else {
					port = p
				}
			}
			if host := n.arg(0); host != "" && !strings.ContainsAny(host, "/ []") {
				e.SMTPServer = net.JoinHostPort(host, strconv.Itoa(port))
			} else {
				c.notes.unsupported(n.pos, n.key, "%q is not a host name or address", host)
			}
		}
	}
	if e.SMTPServer == "" || e.From == "" || len(e.To) == 0 {
		c.notes.unsupported(g.pos, "notification_email", "mail needs smtp_server, notification_email_from and at least one notification_email address; alerts.email is left out")
		return
	}
	c.notes.changed(g.pos, "notification_email", "vigil mails every VRRP transition and backend or service change, not only those of instances and checkers with smtp_alert")
	c.out.Alerts = &outAlerts{Email: e}
}

// validMailbox accepts what vigil's config accepts as an address, and no
// more than one word.
func validMailbox(s string) bool {
	return strings.Contains(s, "@") && !strings.ContainsAny(s, " \t<>")
}
