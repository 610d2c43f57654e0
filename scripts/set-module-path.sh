#!/usr/bin/env bash
# Sets the Go module path. The module is "vigil" until the repository has a
# published address; once it has, this makes `go install ADDRESS@latest`
# work in one step:
#   ./scripts/set-module-path.sh github.com/OWNER/vigil
# It rewrites go.mod (and the packaging tool's nested module) and every
# import of the old path, then builds everything to prove nothing was
# missed. Commit the result.
set -euo pipefail
new=${1:?usage: scripts/set-module-path.sh NEW_MODULE_PATH}
cd "$(dirname "$0")/.."
case "$new" in
*[!A-Za-z0-9._~/-]* | /* | */ | *//*)
	echo "set-module-path: $new is not a module path" >&2
	exit 2
	;;
esac
old=$(go list -m)
if [ "$old" = "$new" ]; then
	echo "module path already $new"
	exit 0
fi
go mod edit -module "$new"
if [ -f packaging/nfpm/go.mod ]; then
	(cd packaging/nfpm && go mod edit -module "$new/packaging/nfpm")
fi
# Import paths are quoted strings; "old/..." never occurs in vigil's
# source otherwise, so a quoted-prefix rewrite is exact.
git ls-files -z -- '*.go' | xargs -0 sed -i -e "s#\"$old/#\"$new/#g" -e "s#\"$old\"\$#\"$new\"#"
gofmt -l . | grep . && {
	echo "set-module-path: gofmt disagrees with the rewrite" >&2
	exit 1
}
go build ./...
go vet ./config/...
echo "module path: $old -> $new"
