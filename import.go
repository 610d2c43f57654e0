package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"vigil/importer"
)

const importSynopsis = `import keepalived FILE [--haproxy FILE] [-o OUT]
       vigil import haproxy FILE [-o OUT]

Convert keepalived.conf (and the haproxy.cfg next to it) or haproxy.cfg
into a vigil config. The YAML goes to OUT (default: standard output) and
starts with a comment that lists every keyword not converted, with
file:line and what to do; the same list goes to standard error.
Exit status: 0 everything converted, 1 something was not (the config is
still written), 2 bad usage or an input that does not parse.`

// cmdImport runs "vigil import"; the conversion itself is package importer.
func cmdImport(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("import", importSynopsis, stderr)
	haproxy := fs.String("haproxy", "", "haproxy.cfg `file` to convert with keepalived.conf")
	out := fs.String("o", "", "write the config to this `file` instead of standard output")
	// Flags may come before or after the positional arguments.
	var pos []string
	for {
		if code, stop := parseFlagsOnly(fs, args, stdout); stop {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 2 {
		fmt.Fprintf(stderr, "vigil import: want a format and a file\nUsage: vigil %s\n", importSynopsis)
		return 2
	}
	var in importer.Input
	switch pos[0] {
	case "keepalived":
		in = importer.Input{Keepalived: pos[1], HAProxy: *haproxy}
	case "haproxy":
		if *haproxy != "" {
			fmt.Fprintln(stderr, "vigil import haproxy: --haproxy goes with the keepalived format")
			return 2
		}
		in = importer.Input{HAProxy: pos[1]}
	default:
		fmt.Fprintf(stderr, "vigil import: unknown format %q (want keepalived or haproxy)\n", pos[0])
		return 2
	}
	res, err := importer.Convert(in, importer.OSFiles{})
	if err != nil {
		fmt.Fprintf(stderr, "vigil import: %v\n", err)
		return 2
	}
	if *out == "" {
		_, err = stdout.Write(res.YAML)
	} else {
		err = os.WriteFile(*out, res.YAML, 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil import: %v\n", err)
		return 2
	}
	for _, n := range res.Notes {
		fmt.Fprintln(stderr, n)
	}
	if !res.Complete() {
		fmt.Fprintln(stderr, "vigil import: some keywords were not converted (listed above and in the config's header); the config was written")
		return 1
	}
	return 0
}

// parseFlagsOnly is parseFlags without its rule against positional arguments.
func parseFlagsOnly(fs *flag.FlagSet, args []string, stdout io.Writer) (int, bool) {
	// Parse prints the usage itself, to stderr, on -h as on an error;
	// help asked for goes to stdout instead, once.
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return 0, true
	}
	if err != nil {
		fs.Usage()
		return 2, true
	}
	return 0, false
}
