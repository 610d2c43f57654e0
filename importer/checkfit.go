package importer

import "regexp"

// fitCheck drops the fields a check of its type does not take (a foreign
// config may set them, vigil refuses them) and the values vigil cannot
// use, noting each at p.
func fitCheck(ns *notes, ch *outCheck, p pos, keyword string) {
	drop := func(field string, set bool, clear func()) {
		if set {
			ns.unsupported(p, keyword, "%s does not apply to a %s check; left out", field, ch.Type)
			clear()
		}
	}
	if ch.Type != "http" && ch.Type != "https" {
		drop("method", ch.Method != "", func() { ch.Method = "" })
		drop("path", ch.Path != "", func() { ch.Path = "" })
		drop("host", ch.Host != "", func() { ch.Host = "" })
		drop("expect_status", len(ch.ExpectStatus) > 0, func() { ch.ExpectStatus = nil })
		drop("expect_body", ch.ExpectBody != "", func() { ch.ExpectBody = "" })
		drop("expect_body_regex", ch.ExpectBodyRegex != "", func() { ch.ExpectBodyRegex = "" })
		drop("digest", ch.Digest != "", func() { ch.Digest = "" })
	}
	if ch.Type != "https" {
		drop("sni", ch.SNI != "", func() { ch.SNI = "" })
	}
	if ch.Type != "dns" {
		drop("query", ch.Query != "", func() { ch.Query = "" })
		drop("query_type", ch.QueryType != "", func() { ch.QueryType = "" })
	}
	if ch.Type != "udp" {
		drop("payload", ch.Payload != "", func() { ch.Payload = "" })
		drop("expect_reply", ch.ExpectReply != "", func() { ch.ExpectReply = "" })
	}
	if ch.Type != "exec" {
		drop("command", len(ch.Command) > 0, func() { ch.Command = nil })
	} else {
		drop("port", ch.Port != 0, func() { ch.Port = 0 })
	}
	if ch.ExpectBodyRegex != "" {
		if _, err := regexp.Compile(ch.ExpectBodyRegex); err != nil {
			ns.unsupported(p, keyword, "%q is not a regular expression vigil (Go RE2) understands; left out", ch.ExpectBodyRegex)
			ch.ExpectBodyRegex = ""
		}
	}
	if ch.Type == "dns" && ch.Query == "" {
		ch.Query = "."
	}
}
