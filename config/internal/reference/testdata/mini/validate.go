package config

import (
	"fmt"
	"slices"
	"strings"
)

type decoder struct{ bad map[string]bool }

type validator struct{ d *decoder }

func (v *validator) errorf(path, format string, args ...any) {}

func (v *validator) oneOf(path, val string, allowed ...string) bool {
	if slices.Contains(allowed, val) {
		return true
	}
	v.errorf(path, "%q is not one of %v", val, allowed)
	return false
}

func (v *validator) intRange(path string, val, lo, hi int) bool {
	if val < lo || val > hi {
		v.errorf(path, "out of range")
		return false
	}
	return true
}

func (v *validator) config(c *Config) {
	if !v.oneOf("mode", c.Mode, "a", "b") {
		return
	}
	for i := range c.Items {
		v.item(fmt.Sprintf("items[%d]", i), &c.Items[i], c)
	}
	for n, it := range c.Named {
		if it == nil {
			v.errorf("named."+n, "empty")
			continue
		}
		v.item("named."+n, it, c)
	}
}

func (v *validator) item(p string, it *Item, c *Config) {
	if it.Name == "" {
		v.errorf(p+".name", "required")
		return
	}
	v.intRange(p+".size", it.Size, 1, 10)
	v.oneOf(p+".kind", it.Kind, "x", "y")
	if it.Path != "" && !strings.HasPrefix(it.Path, "/") {
		v.errorf(p+".path", "must start with /")
	}
	if it.Wait <= 0 {
		v.errorf(p+".wait", "must be more than 0s")
	}
	if it.Port != 0 {
		v.intRange(p+".port", it.Port, 1, 65535)
	}
	most := 10
	if c.Mode == "b" {
		most = 20
	}
	v.intRange(p+".weight", it.Weight, 0, most)
	if len(p) > 3 && it.Extra == "" {
		v.errorf(p+".extra", "required here")
	}
	if c.Mode == "a" {
		return
	}
	v.oneOf(p+".name", it.Name, "n1", "n2")
}
