package config

import (
	"encoding"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// scalarDecoder is implemented by types that accept a scalar form, either as
// their only form (Duration) or as a shorthand for a mapping (VIP, Backend).
type scalarDecoder interface {
	decodeScalar(s string) error
}

// defaulter is implemented by structs that have defaults which do not depend
// on other fields; they are set before the file's values are decoded on top,
// so an explicit zero in the file (garp.delay: 0s) is kept.
type defaulter interface {
	setDefaults()
}

// decoder walks a yaml.Node tree into the config structs. yaml.v3's own
// decoder stops at the first type error and knows no columns or field paths;
// walking the tree ourselves lets us report every problem with file, line,
// column and path, and suggest the right name for an unknown key.
type decoder struct {
	file     string
	pos      map[string]Pos  // field path -> position of its value
	keyPos   map[string]Pos  // field path -> position of its key
	bad      map[string]bool // paths that failed to decode; validation skips them
	problems []Problem

	// budget bounds the nodes visited: nested aliases can expand
	// exponentially ("billion laughs"). The schema has no recursive types, so
	// an alias cycle cannot recurse forever.
	budget int
}

// maxNodes bounds the decoded nodes; real configs are far below it.
const maxNodes = 200000

func newDecoder(file string) *decoder {
	return &decoder{
		file:   file,
		pos:    map[string]Pos{},
		keyPos: map[string]Pos{},
		bad:    map[string]bool{},
		budget: maxNodes,
	}
}

func (d *decoder) errorAt(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.problems = append(d.problems, Problem{
		File: d.file, Pos: Pos{n.Line, n.Column}, Path: path,
		Message: fmt.Sprintf(format, args...),
	})
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	scalarDecoderType   = reflect.TypeFor[scalarDecoder]()
	defaulterType       = reflect.TypeFor[defaulter]()
)

// kindName says what a YAML node is in words a user understands.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// decode stores n into v (which must be settable), recording positions under path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.errorAt(n, path, "aliases expand to more than %d values; refusing to expand further", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		d.decode(n.Alias, v, path)
		return
	}
	d.pos[path] = Pos{n.Line, n.Column}
	if isNull(n) {
		return // an explicit "key:" with no value keeps the default
	}

	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
			if v.Type().Implements(defaulterType) {
				v.Interface().(defaulter).setDefaults()
			}
		}
		d.decode(n, v.Elem(), path)
		return
	}

	addr := v.Addr()
	if n.Kind == yaml.ScalarNode {
		if addr.Type().Implements(scalarDecoderType) {
			if err := addr.Interface().(scalarDecoder).decodeScalar(n.Value); err != nil {
				d.errorAt(n, path, "%v", err)
			}
			return
		}
		if p, ok := addr.Interface().(*netip.Prefix); ok {
			// Every prefix field accepts a bare address as a host prefix, as keepalived does.
			v, err := parseVIPAddress(n.Value)
			if err != nil {
				d.errorAt(n, path, "%v", err)
			}
			*p = v
			return
		}
		if addr.Type().Implements(textUnmarshalerType) {
			if err := addr.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
				d.errorAt(n, path, "%q is not %s", n.Value, describeText(v.Type()))
			}
			return
		}
	}

	if n.Kind != yaml.ScalarNode && v.Kind() == reflect.Struct && !hasYAMLFields(v.Type()) {
		// An address or a status range is written as one value; a mapping
		// would otherwise decode as an empty struct, silently unset.
		want := "a single value"
		if addr.Type().Implements(textUnmarshalerType) {
			want = describeText(v.Type())
		}
		d.errorAt(n, path, "want %s, not %s", want, kindName(n))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorAt(n, path, "expected a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, ok := parseBool(n)
		if !ok {
			d.errorAt(n, path, "expected true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, v.Type().Bits())
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorAt(n, path, "expected a whole number, got %s", kindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(n.Value, 0, v.Type().Bits())
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorAt(n, path, "expected a whole number from 0 to %d, got %s",
				uint64(1)<<v.Type().Bits()-1, kindName(n))
			return
		}
		v.SetUint(u)
	default:
		panic(fmt.Sprintf("config: no decoder for %s at %s", v.Type(), path))
	}
}

func parseBool(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	switch strings.ToLower(n.Value) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	return false, false
}

// fieldsOf maps YAML keys to struct field indexes.
func fieldsOf(t reflect.Type) (map[string]int, []string) {
	idx := map[string]int{}
	var names []string
	for i := range t.NumField() {
		tag := yamlName(t.Field(i))
		if tag == "" {
			continue
		}
		idx[tag] = i
		names = append(names, tag)
	}
	return idx, names
}

// hasYAMLFields reports whether t is a config section (it has yaml tags)
// rather than a value type such as netip.Addr.
func hasYAMLFields(t reflect.Type) bool {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) != "" {
			return true
		}
	}
	return false
}

// yamlName is a field's YAML key; "" for a field YAML does not see.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		if reflect.PointerTo(v.Type()).Implements(scalarDecoderType) {
			d.errorAt(n, path, "expected a string or a mapping, got %s", kindName(n))
		} else {
			d.errorAt(n, path, "expected a mapping (key: value), got %s", kindName(n))
		}
		return
	}
	idx, names := fieldsOf(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		fpath := joinPath(path, key.Value)
		if seen[key.Value] {
			d.errorAt(key, fpath, "set twice in the same block")
			continue
		}
		seen[key.Value] = true
		fi, ok := idx[key.Value]
		if !ok {
			d.errorAt(key, fpath, "%s", unknownField(key.Value, names))
			continue
		}
		d.keyPos[fpath] = Pos{key.Line, key.Column}
		d.decode(val, v.Field(fi), fpath)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		if n.Kind == yaml.ScalarNode && reflect.PointerTo(v.Type()).Implements(scalarDecoderType) {
			if err := v.Addr().Interface().(scalarDecoder).decodeScalar(n.Value); err != nil {
				d.errorAt(n, path, "%v", err)
			}
			return
		}
		d.errorAt(n, path, "expected a list, got %s", kindName(n))
		return
	}
	if len(n.Content) == 0 {
		v.Set(reflect.Zero(v.Type())) // [] and an absent list mean the same
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		elem := s.Index(i)
		if elem.Addr().Type().Implements(defaulterType) {
			elem.Addr().Interface().(defaulter).setDefaults()
		}
		d.decode(item, elem, fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorAt(n, path, "expected a mapping (name: value), got %s", kindName(n))
		return
	}
	if len(n.Content) == 0 {
		return // {} and an absent mapping mean the same
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		kpath := joinPath(path, key.Value)
		if v.MapIndex(reflect.ValueOf(key.Value)).IsValid() {
			d.errorAt(key, kpath, "defined twice")
			continue
		}
		d.keyPos[kpath] = Pos{key.Line, key.Column}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, kpath)
		// A named entry is best pointed at by its name.
		d.pos[kpath] = Pos{key.Line, key.Column}
		v.SetMapIndex(reflect.ValueOf(key.Value), elem)
	}
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// describeText names what a TextUnmarshaler type expects.
func describeText(t reflect.Type) string {
	switch t.String() {
	case "netip.Addr":
		return "an IP address"
	case "netip.Prefix":
		return "an IP prefix like 10.0.0.100/24"
	case "netip.AddrPort":
		return "an IP:port like 10.0.0.100:80 or [2001:db8::1]:80"
	}
	return "valid for " + t.String()
}

// keepalivedWords maps the keywords keepalived and HAProxy users bring with
// them to vigil's names, so "unknown field" can say what to write instead.
var keepalivedWords = map[string]string{
	"virtual_router_id":   "vrid",
	"advert_int":          "advert_interval",
	"virtual_ipaddress":   "vips",
	"unicast_peer":        "unicast_peers",
	"unicast_src_ip":      "unicast_source",
	"nopreempt":           "preempt: false",
	"track_script":        "track: [{check: NAME, weight: W}]",
	"track_interface":     "track: [{interface: NAME, weight: W}]",
	"authentication":      "auth_pass",
	"notify_master":       "notify",
	"notify_backup":       "notify",
	"notify_fault":        "notify",
	"state":               "priority (the highest priority becomes master; there is no state keyword)",
	"real_server":         "backends",
	"lb_algo":             "balance",
	"lvs_sched":           "balance",
	"lb_kind":             "lvs: {forward: nat|dr|tun}",
	"lvs_method":          "lvs: {forward: nat|dr|tun}",
	"persistence_timeout": "lvs: {persistence: DURATION}",
	"delay_loop":          "interval",
	"connect_timeout":     "timeout",
	"status_code":         "expect_status",
	"url":                 "path",
	"server":              "backends",
	"servers":             "backends",
	"inter":               "interval",
	"maxconn":             "max_conn",
	"bind":                "listen",
	"address":             "listen",
	"vip":                 "vips",
	"addresses":           "vips",
	"instances":           "vrrp",
	"virtual_server":      "services",
}

// unknownField explains an unknown key: the closest known name, or the vigil
// word for a keepalived/HAProxy keyword.
func unknownField(key string, known []string) string {
	if hint, ok := keepalivedWords[key]; ok {
		// Only suggest it where the target exists in this block, or it is prose.
		target := strings.SplitN(hint, ":", 2)[0]
		target = strings.SplitN(target, " ", 2)[0]
		if slices.Contains(known, target) || strings.ContainsAny(hint, " :") {
			return fmt.Sprintf("unknown field; vigil calls it %s", hint)
		}
	}
	best, bestDist := "", 1<<30
	for _, k := range known {
		if dist := editDistance(key, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" && (bestDist <= 2 || bestDist*3 <= len(key) ||
		strings.Contains(best, key) || strings.Contains(key, best)) {
		return fmt.Sprintf("unknown field; did you mean %q?", best)
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	return fmt.Sprintf("unknown field; known fields here: %s", strings.Join(sorted, ", "))
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
