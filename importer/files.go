package importer

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// Files is how the importer reads its inputs and the files they include, so
// tests and fuzz targets can convert text held in memory.
type Files interface {
	// ReadFile returns the contents of the named file.
	ReadFile(name string) ([]byte, error)
	// Glob returns the names matching pattern, sorted.
	Glob(pattern string) ([]string, error)
}

// OSFiles reads the real file system.
type OSFiles struct{}

// ReadFile reads the file from disk.
func (OSFiles) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// Glob expands pattern on disk, sorted so includes are read in a stable order.
func (OSFiles) Glob(pattern string) ([]string, error) {
	m, err := filepath.Glob(pattern)
	sort.Strings(m)
	return m, err
}

// MapFiles is an in-memory Files: file name to contents.
type MapFiles map[string][]byte

// ReadFile returns the stored contents.
func (m MapFiles) ReadFile(name string) ([]byte, error) {
	b, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return b, nil
}

// Glob matches the stored names against pattern.
func (m MapFiles) Glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, errors.New("bad pattern " + pattern)
	}
	var out []string
	for name := range m {
		if ok, _ := path.Match(pattern, name); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}
