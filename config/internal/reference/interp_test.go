package reference

import (
	"strings"
	"testing"
)

// TestReadsRulesAndDefaults runs the generator on testdata/mini, a config
// package small enough to know every rule and default it must find.
func TestReadsRulesAndDefaults(t *testing.T) {
	ref, err := Load("testdata/mini")
	if err != nil {
		t.Fatal(err)
	}
	text := func(ps []paragraph) string {
		var out []string
		for _, p := range ps {
			out = append(out, plainText(p))
		}
		return strings.Join(out, "; ")
	}
	cases := []struct {
		path, typ, def, rules string
	}{
		{"mode", "one of `a`|`b`", "`a` (`Config.setDefaults` in config/defaults.go)", ""},
		// The early return after "required" narrows nothing: only refused
		// configs take it. The return when mode is a does.
		{"items[].name", "string", "empty", "required; one of `n1` or `n2` when `mode` is `b`"},
		{"items[].size", "integer", "`5` (`Item.setDefaults` in config/defaults.go)", "`1..10`"},
		{"items[].kind", "one of `x`|`y`", "`x` when `mode` is `a` and `y` when `mode` is `b`, also in place of an empty value (`finishDefaults` in config/defaults.go)", ""},
		{"items[].path", "string", "empty", "starts with `/`, or empty"},
		{"items[].wait", "duration (`2s`, `100ms`)", "`2s` (`Item.setDefaults` in config/defaults.go)", "more than `0s`"},
		{"items[].port", "integer", "`0`", "`1..65535`, or `0`"},
		// A variable set under a condition makes one rule per value.
		{"items[].weight", "integer", "`0`", "`0..10` when `mode` is `a`; `0..20` when `mode` is `b`"},
		// Under a condition the generator cannot read, a rule is left out.
		{"items[].extra", "string", "empty", ""},
		{"named", "mapping of names to mappings", "empty", "each item: must not be empty"},
		{"named.<name>.size", "integer", "`5` (`Item.setDefaults` in config/defaults.go)", "`1..10`"},
		// finishDefaults only reaches the list: the map's kind has no default.
		{"named.<name>.kind", "one of `x`|`y`", "empty", ""},
	}
	for _, c := range cases {
		n := ref.paths[c.path]
		if n == nil {
			t.Errorf("%s: not found", c.path)
			continue
		}
		if got := plainText(ref.typeText(n)); got != c.typ {
			t.Errorf("%s: type %q, want %q", c.path, got, c.typ)
		}
		if got := plainText(ref.defaultText(n)); got != c.def {
			t.Errorf("%s: default %q, want %q", c.path, got, c.def)
		}
		if got := text(ref.rulesText(n)); got != c.rules {
			t.Errorf("%s: rules %q, want %q", c.path, got, c.rules)
		}
	}
	if ref.paths["hidden"] != nil {
		t.Error("a field without a yaml tag is listed")
	}
	desc := plainText(ref.describeNode(ref.paths["items[].name"])...)
	if want := "`name` names the Item; see `size`."; !strings.HasPrefix(desc, want) {
		t.Errorf("the doc comment reads %q, want it to start %q", desc, want)
	}
}

// TestRefusesWhatItDoesNotKnow checks that a field of a type the generator
// cannot describe stops it rather than being guessed.
func TestRefusesWhatItDoesNotKnow(t *testing.T) {
	src, err := parseSource("testdata/mini")
	if err != nil {
		t.Fatal(err)
	}
	delete(customTypes, "Duration")
	defer func() { customTypes["Duration"] = kDuration }()
	if _, err := src.buildTree(); err == nil || !strings.Contains(err.Error(), "Duration") {
		t.Errorf("buildTree with an unknown type: %v, want an error naming Duration", err)
	}
}
