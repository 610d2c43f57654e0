package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Change is one difference between two configs: what `vigil reload
// --plan` lists under the part it concerns.
type Change struct {
	// Path is the field's YAML path, list items named by their name or
	// address rather than their index where they have one, so that
	// reordering a list is no change: vrrp[VI_1].priority,
	// services[web].backends[10.0.1.3:8080].weight.
	Path string
	// Old and New are the values as YAML writes them, on one line; Old
	// is empty for something added, New for something removed. Secrets
	// (passwords, tokens, webhook headers) read "(hidden)".
	Old, New string
}

// String is the change as one line of a plan.
func (c Change) String() string {
	switch {
	case c.Old == "(hidden)" && c.New == "(hidden)":
		return c.Path + ": changed"
	case c.Old == "":
		return c.Path + ": added " + c.New
	case c.New == "":
		return c.Path + ": removed (was " + c.Old + ")"
	}
	return c.Path + ": " + c.Old + " -> " + c.New
}

// Diff lists what differs between two configs, field by field, in the
// order the fields are declared (map keys sorted). Items of a list that
// have a name (instances, services, checks) or an address (backends,
// VIPs), or say what they track, are matched by it, so a list reordered
// shows no change; other lists are matched by position.
func Diff(old, new *Config) []Change {
	var out []Change
	diffValue(&out, "", reflect.ValueOf(*old), reflect.ValueOf(*new), false)
	return out
}

// secretFields are the YAML names whose values a plan must not print.
func secretField(name string) bool {
	switch name {
	case "auth_pass", "token", "password", "headers":
		return true
	}
	return false
}

func diffValue(out *[]Change, path string, a, b reflect.Value, secret bool) {
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			*out = append(*out, Change{Path: path, Old: show(a, secret), New: show(b, secret)})
			return
		}
		diffValue(out, path, a.Elem(), b.Elem(), secret)
		return
	case reflect.Struct:
		if !hasYAMLFields(a.Type()) {
			break // a leaf such as netip.Addr
		}
		t := a.Type()
		for i := range t.NumField() {
			name := yamlName(t.Field(i))
			if name == "" {
				continue
			}
			diffValue(out, join(path, name), a.Field(i), b.Field(i), secret || secretField(name))
		}
		return
	case reflect.Slice:
		if keyed(a.Type().Elem()) {
			diffKeyed(out, path, a, b, secret)
			return
		}
	case reflect.Map:
		if secret {
			break
		}
		keys := map[string]reflect.Value{}
		for _, k := range append(a.MapKeys(), b.MapKeys()...) {
			keys[fmt.Sprint(k.Interface())] = k
		}
		names := make([]string, 0, len(keys))
		for n := range keys {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			k := keys[n]
			av, bv := a.MapIndex(k), b.MapIndex(k)
			p := path + "[" + n + "]"
			switch {
			case !av.IsValid():
				*out = append(*out, Change{Path: p, New: show(bv, secret)})
			case !bv.IsValid():
				*out = append(*out, Change{Path: p, Old: show(av, secret)})
			default:
				diffValue(out, p, av, bv, secret)
			}
		}
		return
	}
	*out = append(*out, Change{Path: path, Old: show(a, secret), New: show(b, secret)})
}

// diffKeyed matches two lists' items by their key: changed ones in the
// new list's order, then the removed ones.
func diffKeyed(out *[]Change, path string, a, b reflect.Value, secret bool) {
	olds := map[string]reflect.Value{}
	for i := range a.Len() {
		olds[itemKey(a.Index(i), i)] = a.Index(i)
	}
	seen := map[string]bool{}
	for i := range b.Len() {
		k := itemKey(b.Index(i), i)
		seen[k] = true
		p := path + "[" + k + "]"
		if av, ok := olds[k]; ok {
			diffValue(out, p, av, b.Index(i), secret)
		} else {
			*out = append(*out, Change{Path: p, New: show(b.Index(i), secret)})
		}
	}
	for i := range a.Len() {
		if k := itemKey(a.Index(i), i); !seen[k] {
			*out = append(*out, Change{Path: path + "[" + k + "]", Old: show(a.Index(i), secret)})
		}
	}
}

// keyed reports whether items of type t have something to match them by.
func keyed(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	if _, ok := t.FieldByName("Name"); ok {
		return true
	}
	if _, ok := t.FieldByName("Address"); ok {
		return true
	}
	_, ok := t.MethodByName("Target")
	return ok
}

// itemKey is what names a list item: its name, address or target, else
// its position.
func itemKey(v reflect.Value, i int) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return fmt.Sprint(i)
		}
		v = v.Elem()
	}
	for _, f := range []string{"Name", "Address"} {
		if fv := v.FieldByName(f); fv.IsValid() {
			if s := fmt.Sprint(fv.Interface()); s != "" && s != "invalid Prefix" {
				return s
			}
		}
	}
	if m := v.MethodByName("Target"); m.IsValid() {
		return m.Call(nil)[0].String()
	}
	return fmt.Sprint(i)
}

// show writes a value as YAML on one line; "" for a nil pointer, an
// invalid (absent) value, or a zero value of a secret.
func show(v reflect.Value, secret bool) string {
	if !v.IsValid() || (v.Kind() == reflect.Pointer && v.IsNil()) {
		return ""
	}
	if secret {
		if v.IsZero() {
			return ""
		}
		return "(hidden)"
	}
	var n yaml.Node
	if err := n.Encode(v.Interface()); err != nil {
		return fmt.Sprint(v.Interface())
	}
	flow(&n)
	b, err := yaml.Marshal(&n)
	if err != nil {
		return fmt.Sprint(v.Interface())
	}
	s := strings.TrimSpace(string(b))
	if s == "" || s == `""` {
		return `""`
	}
	// A whole service is long; the plan needs to say which, not repeat it.
	if len(s) > maxShown {
		s = s[:maxShown] + "..."
	}
	return s
}

// maxShown bounds a value printed in a plan.
const maxShown = 160

// flow makes a YAML node and its children print on one line, leaving
// out the keys of a mapping whose value is empty or zero (an empty
// string, list or mapping, null, false, 0), which only make the line
// longer.
func flow(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = yaml.FlowStyle
	}
	if n.Kind == yaml.MappingNode {
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !emptyNode(n.Content[i+1]) {
				kept = append(kept, n.Content[i], n.Content[i+1])
			}
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		flow(c)
	}
}

func emptyNode(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Value {
		case "false", "0", "0s":
			return n.Tag != "!!str" || n.Value == "0s"
		}
		return n.Tag == "!!null" || (n.Tag == "!!str" && n.Value == "")
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) == 0
	}
	return false
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
