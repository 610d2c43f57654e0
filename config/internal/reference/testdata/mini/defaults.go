package config

import "time"

func (c *Config) setDefaults() { c.Mode = "a" }

func (i *Item) setDefaults() {
	i.Size = 5
	i.Wait = Duration(2 * time.Second)
}

func finishDefaults(c *Config, isSet func(string) bool) {
	for i := range c.Items {
		it := &c.Items[i]
		if it.Kind == "" {
			switch c.Mode {
			case "a":
				it.Kind = "x"
			case "b":
				it.Kind = "y"
			}
		}
	}
}
