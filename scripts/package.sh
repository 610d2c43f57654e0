#!/usr/bin/env bash
# Builds vigil's .deb and .rpm with nfpm, as any user:
#   ./scripts/package.sh                  # dist/vigil_VERSION_amd64.deb, dist/vigil-VERSION-1.x86_64.rpm
#   GOARCH=arm64 ./scripts/package.sh     # vigil_VERSION_arm64.deb, vigil-VERSION-1.aarch64.rpm
#   ./scripts/package.sh -o DIR           # (or VIGIL_DIST=DIR) the packages go to DIR
# VERSION comes from "git describe --tags" (v1.2.3 -> 1.2.3; 4 commits past
# it -> 1.2.3+git4.gabc1234; v1.3.0-rc1 -> 1.3.0~rc1), else it is
# 0.0.0~gitYYYYMMDD.abc1234 from the commit: "~" sorts before any release
# and "+" after the tag, for dpkg and rpm alike, so one string serves both.
# VIGIL_VERSION overrides it; VIGIL_MAINTAINER ("Name <mail>") names the
# packager, by default the last commit's author.
# nfpm is a tool of its own module (packaging/nfpm/go.mod), so vigil's
# go.mod and binary do not depend on it; the first run builds it (about a
# minute), later ones take it from Go's build cache. The inputs other parts
# of the tree provide (the vigil.yaml(5) page, alert rules, dashboard) must
# exist: the script stops and names what is missing.
set -euo pipefail

die() {
	echo "package.sh: $*" >&2
	exit 1
}

out=${VIGIL_DIST:-}
while getopts "o:h" opt; do
	case $opt in
	o) out=$OPTARG ;;
	h)
		sed -n '2,/^set -e/p' "$0" | sed '$d'
		exit 0
		;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
(($# == 0)) || die "unexpected argument: $1 (the output directory goes with -o)"
here=$PWD
cd "$(dirname "$0")/.."
root=$PWD
out=${out:-$root/dist}
[[ $out == /* ]] || out=$here/$out

missing=()
for f in LICENSE CHANGELOG.md packaging/vigil.yaml packaging/vigil.service packaging/vigil.sysusers \
	packaging/lintian-overrides packaging/scripts/postinstall.sh packaging/scripts/preremove.sh \
	packaging/scripts/postremove.sh packaging/nfpm/nfpm.yaml packaging/man/vigil.yaml.5 \
	packaging/prometheus/vigil-rules.yml packaging/grafana/vigil.json docs/vigil.schema.json; do
	[ -s "$f" ] || missing+=("$f")
done
((${#missing[@]} == 0)) || die "missing from the tree, so no package: ${missing[*]}"
for tool in go gzip; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

# What vigil is built for; GOARCH names it, and nfpm names it for each
# format (amd64 and x86_64, arm64 and aarch64).
goarch=${GOARCH:-$(go env GOARCH)}
case $goarch in
amd64) rpmarch=x86_64 ;;
arm64) rpmarch=aarch64 ;;
*) die "GOARCH=$goarch: packages are built for amd64 and arm64" ;;
esac

# The version, commit and date come from the commit, not the clock, so
# that the same commit gives the same packages.
if git rev-parse --git-dir >/dev/null 2>&1; then
	commit=$(git rev-parse HEAD)
	if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
		commit=$commit-dirty # as vigil version says of a build from a changed tree
	fi
	epoch=$(git log -1 --format=%ct)
	if tag=$(git describe --tags --abbrev=7 2>/dev/null); then
		version=${tag#v}
		if [[ $version =~ ^(.*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
			version=${BASH_REMATCH[1]}+git${BASH_REMATCH[2]}.g${BASH_REMATCH[3]}
		fi
		version=${version//-/\~} # a pre-release: 1.3.0-rc1 sorts before 1.3.0
	else
		version=0.0.0~git$(TZ=UTC git log -1 --date=format-local:%Y%m%d --format=%cd).$(git rev-parse --short=7 HEAD)
	fi
	maintainer=$(git log -1 --format='%an <%ae>')
else
	commit=unknown
	epoch=${SOURCE_DATE_EPOCH:-$(date +%s)}
	version=
	maintainer=
fi
version=${VIGIL_VERSION:-$version}
maintainer=${VIGIL_MAINTAINER:-$maintainer}
[ -n "$version" ] || die "no git checkout to take the version from: set VIGIL_VERSION"
[ -n "$maintainer" ] || die "no git checkout to take the maintainer from: set VIGIL_MAINTAINER"
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "version $version: want a digit, then letters, digits and . + ~"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$epoch}
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

echo "== vigil $version ($commit) for linux/$goarch"
# -s -w as the container image: a panic's trace keeps its function names
# and lines (they are in pclntab, not in the symbol table).
ldflags="-s -w -X main.version=$version -X main.commit=$commit -X main.date=$date"
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$stage/vigil" . ||
	die "vigil does not build for linux/$goarch"
# The man page and completions come from running vigil: on a machine of
# another architecture, from a build for this one.
host=$stage/vigil
if [ "$goarch" != "$(env -u GOARCH -u GOOS go env GOARCH)" ]; then
	host=$stage/vigil-host
	env -u GOARCH -u GOOS CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$host" . ||
		die "vigil does not build for this machine"
fi

"$host" man >"$stage/vigil.8"
if command -v groff >/dev/null; then
	warnings=$(groff -man -ww -z "$stage/vigil.8" 2>&1)
	[ -z "$warnings" ] || die "groff warns about vigil(8): $warnings"
fi
gzip -9n <"$stage/vigil.8" >"$stage/vigil.8.gz"
gzip -9n <packaging/man/vigil.yaml.5 >"$stage/vigil.yaml.5.gz"
"$host" completion bash >"$stage/vigil.bash"
"$host" completion zsh >"$stage/_vigil"
"$host" completion fish >"$stage/vigil.fish"

# license_of names a licence text the way Debian's copyright format does.
license_of() {
	local file=$1 names=()
	grep -q 'Permission is hereby granted, free of charge' "$file" && names+=(Expat)
	if grep -q 'Redistribution and use in source and binary forms' "$file"; then
		if grep -qiE 'Neither the name|names of (its|the) contributors' "$file"; then
			names+=(BSD-3-Clause)
		else
			names+=(BSD-2-Clause)
		fi
	fi
	grep -q 'Apache License' "$file" && names+=(Apache-2.0)
	grep -q 'Mozilla Public License' "$file" && names+=(MPL-2.0)
	((${#names[@]})) || return 1
	local joined=${names[*]}
	echo "${joined// / and }"
}

# indent makes a text a field's continuation lines: blank lines become " .".
indent() {
	sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /' "$1"
}

# The copyright file (Debian's machine-readable format): vigil's licence,
# then for the Go standard library and every module linked into the
# binary its licence, with the text of each that is not in
# /usr/share/common-licenses, as they ask to be reproduced.
{
	year=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
	cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vigil
Upstream-Contact: $maintainer
Comment: /usr/bin/vigil is one statically linked binary: vigil's own code,
 the Go standard library and runtime ($(go env GOVERSION)), and the Go modules
 listed below (as "vendor/MODULE"), each under its own licence.

Files: *
Copyright: $year ${maintainer% <*}
License: Apache-2.0
EOF
	goroot=$(go env GOROOT)
	printf '\nFiles: GOROOT/*\nCopyright: The Go Authors\nComment: the Go standard library and runtime, %s\n' "$(go env GOVERSION)"
	printf 'License: %s\n' "$(license_of "$goroot/LICENSE")"
	indent "$goroot/LICENSE"
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go list -deps \
		-f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{with .Replace}}{{.Dir}}{{else}}{{.Dir}}{{end}}{{end}}{{end}}' . |
		sort -u | while read -r path ver dir; do
		lic=$(find "$dir" -maxdepth 1 -type f \( -iname 'licen[cs]e*' -o -iname 'copying*' \) | sort | head -1)
		[ -n "$lic" ] || die "module $path $ver has no LICENSE file: cannot say under what terms it ships"
		name=$(license_of "$lic") || die "module $path $ver: $lic is no licence this script knows; add it to license_of"
		notice=$(find "$dir" -maxdepth 1 -type f -iname 'notice*' | head -1)
		holders=$(cat "$lic" ${notice:+"$notice"} | grep -E '^[[:space:]]*Copyright( |\(c\)|©)' | grep -v '\[yyyy\]' |
			sed -e 's/^[[:space:]]*Copyright[[:space:]]*//' -e 's/^(c)[[:space:]]*//I' | sort -u || true)
		printf '\nFiles: vendor/%s/*\n' "$path"
		if [ -n "$holders" ]; then
			printf 'Copyright: %s\n' "$(head -1 <<<"$holders")"
			tail -n +2 <<<"$holders" | sed 's/^/ /'
		else
			printf 'Copyright: the authors of %s (its licence names none)\n' "$path"
		fi
		printf 'Comment: %s %s\n' "$path" "$ver"
		if [ -n "$notice" ]; then
			echo " ."
			echo " Its NOTICE file:"
			indent "$notice"
		fi
		if [ "$name" = Apache-2.0 ]; then
			echo "License: Apache-2.0"
		else
			echo "License: $name"
			indent "$lic"
		fi
	done
	cat <<'EOF'

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License. You may obtain a copy
 of the License at https://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
 License for the specific language governing permissions and limitations
 under the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0,
 is in /usr/share/common-licenses/Apache-2.0; the .rpm ships it as
 /usr/share/licenses/vigil/LICENSE.
EOF
} >"$stage/copyright"

# Debian's changelog for a native package: one entry for this version,
# whose text is CHANGELOG.md's newest section.
{
	echo "vigil ($version) unstable; urgency=medium"
	echo
	awk '
		/^## / { n++; next }
		n != 1 { next }
		/^### / { sub(/^### /, ""); print "  [ " $0 " ]"; next }
		/^- / { sub(/^- /, ""); print "  * " $0; next }
		/^  / { print "  " $0; next }
		/^$/ { print ""; next }
		{ print "  " $0 }
	' CHANGELOG.md | cat -s | sed -e '/./,$!d'
	echo "  * Built from commit $commit."
	echo
	echo " -- $maintainer  $(date -u -d "@$SOURCE_DATE_EPOCH" -R)"
} >"$stage/changelog"
gzip -9n <"$stage/changelog" >"$stage/changelog.gz"

# The files from the tree join the built ones, so that every file in the
# packages has the mode the formats expect and the commit's time, whatever
# the umask and the checkout's clock were.
cp packaging/vigil.service packaging/vigil.sysusers packaging/vigil.yaml packaging/lintian-overrides \
	packaging/prometheus/vigil-rules.yml packaging/grafana/vigil.json docs/vigil.schema.json LICENSE CHANGELOG.md "$stage/"
cp -R examples "$stage/examples"
rm -f "$stage/vigil.8" "$stage/changelog" "$stage/vigil-host"
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +
chmod 0755 "$stage/vigil"
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
export VIGIL_STAGE=$stage VIGIL_VERSION=$version VIGIL_ARCH=$goarch VIGIL_MAINTAINER=$maintainer
for packager in deb rpm; do
	# nfpm runs here: GOARCH says what vigil is for, not nfpm.
	(cd packaging/nfpm && env -u GOARCH -u GOOS go tool nfpm package --config nfpm.yaml --packager "$packager" --target "$out/" >/dev/null) ||
		die "nfpm could not build the $packager"
done
for f in "$out/vigil_${version}_$goarch.deb" "$out/vigil-$version-1.$rpmarch.rpm"; do
	[ -f "$f" ] || die "nfpm wrote no $f"
	echo "$f"
done
