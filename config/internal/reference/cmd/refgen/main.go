// Command refgen writes vigil's config reference, JSON Schema and
// vigil.yaml(5) from the config package's source. `go generate ./config`
// runs it from config/:
//
//	go run ./internal/reference/cmd/refgen -config . -root ..
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"vigil/config/internal/reference"
)

func main() {
	configDir := flag.String("config", ".", "the config package's directory")
	root := flag.String("root", "..", "the repository root, where the files are written")
	flag.Parse()
	if err := run(*configDir, *root); err != nil {
		slog.Error("refgen failed", "err", err)
		os.Exit(1)
	}
}

func run(configDir, root string) error {
	ref, err := reference.Load(configDir)
	if err != nil {
		return err
	}
	outs, err := ref.Outputs()
	if err != nil {
		return err
	}
	for _, o := range outs {
		path := filepath.Join(root, o.Path)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, o.Data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", o.Path, err)
		}
		if err := os.WriteFile(path, o.Data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", o.Path, err)
		}
		slog.Info("wrote", "file", o.Path)
	}
	return nil
}
