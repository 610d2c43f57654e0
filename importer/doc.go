// Package importer translates keepalived.conf and haproxy.cfg into a vigil
// config, so a node can adopt vigil by converting what it runs today.
// Translating foreign configs is a responsibility with no other home: config
// knows only vigil's own schema, and the daemon never reads foreign files.
//
// The conversion is pure: it reads files through a Files, returns the YAML
// and a list of Notes, and never touches the machine. Every keyword it does
// not carry over is a Note with file:line and what to do, so nothing is
// dropped silently; the same input always gives byte-identical output.
package importer
