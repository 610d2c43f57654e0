// Package config is a small config package for the generator's tests: it
// uses the conventions of vigil's config package on a few fields.
package config

// Config is the whole config.
type Config struct {
	// Mode is a or b.
	Mode string `yaml:"mode"`
	// Items are the items.
	Items []Item `yaml:"items"`
	// Named are items by name.
	Named map[string]*Item `yaml:"named"`
	// Hidden has no YAML key.
	Hidden string
}

// Item is one item.
type Item struct {
	// Name names the Item; see Size.
	Name string `yaml:"name"`
	// Size is how big.
	Size int `yaml:"size"`
	// Kind is x or y.
	Kind string `yaml:"kind"`
	// Path is where.
	Path string `yaml:"path"`
	// Wait is how long.
	Wait Duration `yaml:"wait"`
	// Port is optional.
	Port int `yaml:"port"`
	// Weight depends on the mode.
	Weight int `yaml:"weight"`
	// Extra is checked under a condition the generator cannot read.
	Extra string `yaml:"extra"`
}

// Duration is a time.Duration.
type Duration int64
