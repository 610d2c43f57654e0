// Package reference generates vigil's config reference from the config
// package's own source: docs/config.md, docs/vigil.schema.json and the
// vigil.yaml(5) man page. Generated from the structs, their doc comments,
// defaults.go and validate.go, the three cannot drift from what vigil
// accepts; tests regenerate them and fail when a committed copy differs.
//
// It reads the source with go/ast instead of importing the config package
// for two reasons: the doc comments and the shape of the defaults and rules
// only exist in the source, and reflection over the compiled types would
// lose them. It is its own package, under config/internal, so that the
// daemon never links a Go parser and `go doc vigil/config` stays about the
// config; cmd/refgen writes the files for `go generate ./config`.
//
// What the generator understands of validate.go is deliberately narrow: it
// follows the validator from (*validator).config through calls, ifs,
// switches and loops, and turns each error report whose condition it can
// read (an enum, a bound, a pattern, a required field, under conditions on
// other fields) into a rule. Everything it cannot read is left out of the
// docs and the schema, so the schema may accept what `vigil check` refuses,
// but never the other way round.
package reference
