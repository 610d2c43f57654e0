package reference

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// jobj is a JSON object that keeps its keys in the order they were set, so
// the schema reads in the order of the config structs.
type jobj struct {
	keys []string
	m    map[string]any
}

func obj(kv ...any) *jobj {
	o := &jobj{m: map[string]any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

func (o *jobj) set(k string, v any) *jobj {
	if _, ok := o.m[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.m[k] = v
	return o
}

func (o *jobj) has(k string) bool {
	_, ok := o.m[k]
	return ok
}

// merge adds frag's keywords to o, or frag as a whole to o's allOf when
// a keyword is already there.
func (o *jobj) merge(frag *jobj) {
	if frag == nil || len(frag.keys) == 0 {
		return
	}
	for _, k := range frag.keys {
		if o.has(k) {
			o.addAllOf(frag)
			return
		}
	}
	for _, k := range frag.keys {
		o.set(k, frag.m[k])
	}
}

func (o *jobj) addAllOf(frag *jobj) {
	list, _ := o.m["allOf"].([]any)
	o.set("allOf", append(list, frag))
}

// writeJSON prints v indented by two spaces, without escaping <, > and &
// so patterns and paths stay readable.
func writeJSON(b *bytes.Buffer, v any, indent string) error {
	switch v := v.(type) {
	case *jobj:
		if len(v.keys) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteString("{\n")
		for i, k := range v.keys {
			b.WriteString(indent + "  ")
			writeString(b, k)
			b.WriteString(": ")
			if err := writeJSON(b, v.m[k], indent+"  "); err != nil {
				return err
			}
			if i < len(v.keys)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return nil
		}
		if flat(v) {
			b.WriteByte('[')
			for i, e := range v {
				if i > 0 {
					b.WriteString(", ")
				}
				if err := writeJSON(b, e, indent); err != nil {
					return err
				}
			}
			b.WriteByte(']')
			return nil
		}
		b.WriteString("[\n")
		for i, e := range v {
			b.WriteString(indent + "  ")
			if err := writeJSON(b, e, indent+"  "); err != nil {
				return err
			}
			if i < len(v)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case []string:
		list := make([]any, len(v))
		for i, s := range v {
			list[i] = s
		}
		return writeJSON(b, list, indent)
	case string:
		writeString(b, v)
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case uint64:
		b.WriteString(strconv.FormatUint(v, 10))
	case float64:
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	default:
		return fmt.Errorf("cannot write %T as JSON", v)
	}
	return nil
}

// flat reports whether a list holds only scalars, to print it on one line.
func flat(list []any) bool {
	for _, e := range list {
		switch e.(type) {
		case *jobj, []any, []string:
			return false
		}
	}
	return true
}

func writeString(b *bytes.Buffer, s string) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.WriteString(strings.TrimSuffix(out.String(), "\n"))
}
