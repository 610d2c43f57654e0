#!/bin/sh
# vigil's post-removal script, shared by the .deb (postrm, called with
# "remove", "purge", "upgrade" and others) and the .rpm (%postun, called
# with the number of vigil packages left: 0 on erase, 1 on upgrade).
set -e

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi

if [ "$1" = purge ]; then
	# Purge removes what the package left: dpkg removes the config (a
	# conffile) itself; this removes the links "systemctl enable" made to
	# the unit, now gone. The group vigil stays, as Debian does with system
	# groups: files elsewhere may still belong to it.
	for link in /etc/systemd/system/*.wants/vigil.service /etc/systemd/system/*.requires/vigil.service; do
		if [ -L "$link" ]; then
			rm -f "$link"
		fi
	done
fi
exit 0
