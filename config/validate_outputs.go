package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
)

// The rules of what vigil writes out: access logs and alerts.

// syslogFacilities are the facility names syslog(3) knows, in code order.
var syslogFacilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5",
	"local6", "local7"}

func (v *validator) accessLog(p string, a *AccessLog) {
	v.oneOf(p+".format", a.Format, "haproxy", "json", "combined")
	v.oneOf(p+".facility", a.Facility, syslogFacilities...)
	to := a.To
	switch {
	case to == "":
		v.errorf(p+".to", "required: stdout, stderr, a file path, syslog://HOST:PORT, syslog:///dev/log or off")
	case to == "stdout", to == "stderr", to == "off":
	case strings.HasPrefix(to, "syslog://"):
		rest := strings.TrimPrefix(to, "syslog://")
		if strings.HasPrefix(rest, "/") {
			if v.host != nil && !v.host.SocketExists(rest) {
				v.hostf(p+".to", "%q: no unix socket at %s on this host (is a syslog daemon running?)", to, rest)
			}
			return
		}
		if strings.ContainsAny(rest, "/?#@") {
			v.errorf(p+".to", "%q: want syslog://HOST:PORT, nothing after the port", to)
			return
		}
		if _, _, err := net.SplitHostPort(rest); err != nil {
			rest = net.JoinHostPort(strings.Trim(rest, "[]"), "514")
		}
		v.hostPort(p+".to", rest)
	case filepath.IsAbs(to):
		if to != filepath.Clean(to) || strings.HasSuffix(to, "/") {
			v.errorf(p+".to", "%q is not a clean file path (want %s)", to, filepath.Clean(to))
		} else if v.host != nil && !v.host.DirExists(filepath.Dir(to)) {
			v.hostf(p+".to", "directory %q does not exist on this host", filepath.Dir(to))
		}
	default:
		v.errorf(p+".to", "%q is not stdout, stderr, an absolute file path, syslog://HOST:PORT, syslog:///PATH or off", to)
	}
}

func (v *validator) alerts(a *Alerts) {
	for i, w := range a.Webhooks {
		p := fmt.Sprintf("alerts.webhooks[%d]", i)
		u, err := url.Parse(w.URL)
		if w.URL == "" {
			v.errorf(p+".url", "required: the http(s) URL to POST to")
		} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf(p+".url", "%q is not an http:// or https:// URL", w.URL)
		}
		v.positive(p+".timeout", w.Timeout)
	}
	if e := a.Email; e != nil {
		if e.SMTPServer == "" {
			v.errorf("alerts.email.smtp_server", "required: host:port of the SMTP server")
		} else {
			v.hostPort("alerts.email.smtp_server", e.SMTPServer)
		}
		if !strings.Contains(e.From, "@") {
			v.errorf("alerts.email.from", "%q is not an e-mail address", e.From)
		}
		if len(e.To) == 0 {
			v.errorf("alerts.email.to", "required: at least one recipient")
		}
		for i, to := range e.To {
			if !strings.Contains(to, "@") {
				v.errorf(fmt.Sprintf("alerts.email.to[%d]", i), "%q is not an e-mail address", to)
			}
		}
	}
}
