package config

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// The rules of health checks, named (checks:) and per service.

var checkTypes = []string{"tcp", "http", "https", "exec", "dns", "udp"}

var dnsTypes = []string{"A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT"}

var httpMethodRE = regexp.MustCompile(`^[A-Z]+$`)

// check validates one health check; named checks probe their target, service
// checks probe each backend.
func (v *validator) check(p string, ch *Check, named bool) {
	if ch.Type == "" {
		v.errorf(p+".type", "required: one of %s", strings.Join(checkTypes, ", "))
		return
	}
	if !v.oneOf(p+".type", ch.Type, checkTypes...) {
		return
	}
	v.positive(p+".interval", ch.Interval)
	v.positive(p+".timeout", ch.Timeout)
	if ch.Rise < 1 {
		v.errorf(p+".rise", "must be at least 1")
	}
	if ch.Fall < 1 {
		v.errorf(p+".fall", "must be at least 1")
	}
	v.oneOf(p+".initial", ch.Initial, "down", "up")
	if ch.Interval > 0 && ch.Timeout > ch.Interval {
		v.warnf(p+".timeout", "%s is longer than the interval %s, so a hanging target is probed less often than configured", ch.Timeout, ch.Interval)
	}
	if ch.Interval > 0 && ch.Jitter >= ch.Interval {
		v.errorf(p+".jitter", "%s must be less than the interval %s", ch.Jitter, ch.Interval)
	}

	// Fields that belong to other check types are mistakes, not harmless extras.
	only := func(field string, types ...string) {
		if v.isSet(p+"."+field) && !isDefaultField(ch, field) && !slices.Contains(types, ch.Type) {
			v.errorf(p+"."+field, "applies to %s checks only, not %s", strings.Join(types, " and "), ch.Type)
		}
	}
	for _, f := range []string{"method", "path", "host", "expect_status", "expect_body", "expect_body_regex", "digest"} {
		only(f, "http", "https")
	}
	only("tls_verify", "https")
	only("sni", "https")
	only("query", "dns")
	only("query_type", "dns")
	only("payload", "udp")
	only("expect_reply", "udp")
	only("command", "exec")
	only("target", "tcp", "http", "https", "dns", "udp")
	only("port", "tcp", "http", "https", "dns", "udp")

	switch ch.Type {
	case "exec":
		if len(ch.Command) == 0 {
			v.errorf(p+".command", "required for exec checks: the program and its arguments, like [pidof, nginx]")
		} else if v.host != nil && !v.host.ProgramExists(ch.Command[0]) {
			v.hostf(p+".command", "program %q not found on this host", ch.Command[0])
		}
		return
	case "http", "https":
		if !httpMethodRE.MatchString(ch.Method) {
			v.errorf(p+".method", "%q is not an HTTP method like GET or HEAD", ch.Method)
		}
		if !strings.HasPrefix(ch.Path, "/") {
			v.errorf(p+".path", "%q must start with /", ch.Path)
		}
		if len(ch.ExpectStatus) == 0 {
			v.errorf(p+".expect_status", "must list at least one status code")
		}
		if ch.Method == "HEAD" && (ch.ExpectBody != "" || ch.ExpectBodyRegex != "" || ch.Digest != "") {
			v.errorf(p+".method", "a HEAD response has no body, so expect_body, expect_body_regex and digest can never match; use GET")
		}
		if ch.ExpectBodyRegex != "" {
			if _, err := regexp.Compile(ch.ExpectBodyRegex); err != nil {
				v.errorf(p+".expect_body_regex", "not a valid regular expression: %v", err)
			}
		}
		if ch.Digest != "" && !regexp.MustCompile(`^[0-9a-fA-F]{32}$`).MatchString(ch.Digest) {
			v.errorf(p+".digest", "%q must be 32 hex digits (an MD5 sum, as keepalived's genhash prints)", ch.Digest)
		}
	case "dns":
		if ch.Query == "" {
			v.errorf(p+".query", "required for dns checks: the name to ask for")
		}
		v.oneOf(p+".query_type", ch.QueryType, dnsTypes...)
	}
	if named {
		if ch.Target == "" {
			v.errorf(p+".target", "required for %s checks: the host:port to probe", ch.Type)
		} else {
			v.hostPort(p+".target", ch.Target)
		}
		if ch.Port != 0 {
			v.errorf(p+".port", "applies to a service's check only; put the port in target")
		}
	} else {
		if ch.Target != "" {
			v.errorf(p+".target", "a service's check probes each backend; use port to probe another port")
		}
		if ch.Port != 0 {
			v.intRange(p+".port", ch.Port, 1, 65535)
		}
	}
}

// isDefaultField reports whether a check's field (by YAML name) holds its
// default value, so a printed effective config does not trip the rule that
// fields of other check types are mistakes.
func isDefaultField(ch *Check, field string) bool {
	def := &Check{}
	def.setDefaults()
	idx, _ := fieldsOf(reflect.TypeFor[Check]())
	i, ok := idx[field]
	if !ok {
		return false
	}
	got := reflect.ValueOf(ch).Elem().Field(i)
	return got.IsZero() || (got.Kind() == reflect.Slice && got.Len() == 0) || reflect.DeepEqual(got.Interface(), reflect.ValueOf(def).Elem().Field(i).Interface())
}
