package metrics

import "strings"

// Reason classes, the values of vigil_check_failures_total's reason_class.
const (
	classRefused = "refused"
	classTimeout = "timeout"
	classStatus  = "status"
	classBody    = "body"
	classExec    = "exec"
	classDNS     = "dns"
	classOther   = "other"
)

// reasonClass sorts a failed probe's reason into a few classes, so the
// label stays bounded while the reason itself (addresses, program output,
// expected strings) goes only to logs and the status API.
//
// It reads the reasons the checks package writes ("connect refused",
// "timeout after 1s", "status 503", "exit status 1: ...", "rcode
// NXDOMAIN"); a reason it does not know is "other", never an error, so a
// reworded reason degrades the classification and nothing else.
func reasonClass(reason string) string {
	has := func(prefixes ...string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(reason, p) {
				return true
			}
		}
		return false
	}
	switch {
	case has("connect refused", "port unreachable"):
		return classRefused
	case has("timeout after", "no reply within"):
		return classTimeout
	case has("status "):
		return classStatus
	case has("body ", "read body", "digest mismatch", "reply does not contain"):
		return classBody
	case has("exit status", "signal: ", "start: ", "wait: "):
		return classExec
	case has("resolve ", "rcode ", "malformed reply", "truncated reply"),
		strings.HasPrefix(reason, "no ") && strings.HasSuffix(reason, " answer"):
		return classDNS
	}
	return classOther
}
