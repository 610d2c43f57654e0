#!/bin/sh
# vigil's pre-removal script, shared by the .deb (prerm, called with
# "remove", or "upgrade" and others when a new version replaces this one)
# and the .rpm (%preun, called with the number of vigil packages left: 0
# on erase, 1 on upgrade). An upgrade leaves the daemon running for the
# post-install script to restart.
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	# A master hands its addresses to a peer as it stops (priority 0).
	if command -v deb-systemd-invoke >/dev/null 2>&1; then
		deb-systemd-invoke stop vigil.service || true
	else
		systemctl stop vigil.service || true
	fi
fi
if [ "$1" = 0 ]; then
	# rpm erases the unit file; what "systemctl enable" linked to it goes
	# too, as RPM distributions' own packages do. The .deb keeps it until
	# purge, with the config.
	systemctl --no-reload disable vigil.service >/dev/null 2>&1 || true
fi
exit 0
