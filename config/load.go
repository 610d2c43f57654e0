package config

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"reflect"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// DefaultPath is where vigil looks for its config when -c is not given.
const DefaultPath = "/etc/vigil/vigil.yaml"

// Options tune how a config is checked against the machine it runs on.
type Options struct {
	// Host answers questions about this machine (interfaces, files); nil skips them.
	Host Host
	// StrictHost makes host problems errors (vigil run) instead of warnings
	// (vigil check, which may validate a config meant for another machine).
	StrictHost bool
}

// Load reads, decodes, defaults and validates the config file at path. It
// returns the warnings found, and an *Error listing every error when there
// are any.
func Load(path string, opts Options) (*Config, []Problem, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, opts)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse is Load for config text already in memory; file names it in messages.
func Parse(file string, data []byte, opts Options) (*Config, []Problem, error) {
	d := newDecoder(file)
	fail := func(line int, msg string) (*Config, []Problem, error) {
		return nil, nil, &Error{Problems: []Problem{{File: file, Pos: Pos{Line: line}, Message: msg}}}
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(0, "the file is empty; see examples/ for a starting point")
		}
		msg := err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return fail(line, "YAML syntax: "+m[2])
		}
		return fail(0, "YAML syntax: "+msg)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fail(extra.Line, "a second YAML document (---) is not allowed; put everything in one")
	}

	sum := sha256.Sum256(data)
	c := &Config{File: file, Hash: hex.EncodeToString(sum[:])}
	c.setDefaults()
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if isNull(doc) {
		return fail(0, "the file is empty; see examples/ for a starting point")
	}
	d.decode(doc, reflect.ValueOf(c).Elem(), "")
	delete(d.pos, "")

	finishDefaults(c, func(p string) bool { _, ok := d.pos[p]; return ok })
	v := &validator{d: d, host: opts.Host, strictHost: opts.StrictHost}
	v.config(c)
	c.positions = d.pos

	var errs, warns []Problem
	for _, p := range append(d.problems, v.problems...) {
		if p.Warning {
			warns = append(warns, p)
		} else {
			errs = append(errs, p)
		}
	}
	sortProblems(errs)
	sortProblems(warns)
	if len(errs) > 0 {
		return nil, warns, &Error{Problems: errs}
	}
	return c, warns, nil
}

// SystemHost answers Host questions about the machine vigil runs on.
type SystemHost struct{}

// InterfaceExists asks the kernel for the interface.
func (SystemHost) InterfaceExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// FileExists stats the file.
func (SystemHost) FileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// DirExists stats the directory.
func (SystemHost) DirExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// SocketExists stats the socket.
func (SystemHost) SocketExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().Type() == os.ModeSocket
}

// GroupExists looks the group up by name, then by number.
// KeyPairLoads loads the pair as the proxy will at start.
func (SystemHost) KeyPairLoads(cert, key string) error {
	_, err := tls.LoadX509KeyPair(cert, key)
	return err
}

func (SystemHost) GroupExists(name string) bool {
	if _, err := user.LookupGroup(name); err == nil {
		return true
	}
	_, err := user.LookupGroupId(name)
	return err == nil
}

// ProgramExists looks the program up as exec would.
func (SystemHost) ProgramExists(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
