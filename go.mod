module vigil

go 1.26.0

require (
	github.com/vishvananda/netns v0.0.5
	gopkg.in/yaml.v3 v3.0.1
)

require golang.org/x/sys v0.2.0 // indirect
