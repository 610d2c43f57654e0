#!/bin/sh
# vigil's post-install script, shared by the .deb (postinst, called with
# "configure" and the version it replaces, if any) and the .rpm (%post,
# called with the number of vigil packages installed: 1 on install, 2 on
# upgrade). It must work again after a failure, and in a container or
# chroot where systemd does not run.
#
# Enabling and starting: Debian enables and starts a daemon when its
# package is installed. vigil's package does not: the config it ships
# takes no address and serves nothing, so "vigil run" refuses it, and a
# VRRP daemon that started by itself on a node someone is still setting
# up could take addresses from the network's real master. A first install
# leaves the unit disabled and stopped; the operator writes the config and
# runs "systemctl enable --now vigil". An upgrade restarts a vigil that was
# running, as Debian does, so that the new binary runs: on the way down a
# master hands its addresses to a peer at once (priority 0). A vigil that
# was stopped stays stopped (try-restart).
set -e

upgrade=
case "$1" in
configure) [ -z "$2" ] || upgrade=yes ;; # deb
[0-9]*) [ "$1" -lt 2 ] || upgrade=yes ;; # rpm
*) exit 0 ;; # deb's abort-*: nothing was changed that needs undoing
esac

# The group that may use the API socket (api.socket_group in the shipped
# config). The sysusers.d file says so to systemd, which makes it again on
# a system whose /etc is reset; groupadd does it where systemd is absent.
if ! getent group vigil >/dev/null; then
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers vigil.conf
	elif command -v groupadd >/dev/null 2>&1; then
		groupadd --system vigil
	else
		addgroup -S vigil
	fi
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
	if [ -n "$upgrade" ]; then
		# deb-systemd-invoke asks policy-rc.d first, as Debian wants.
		if command -v deb-systemd-invoke >/dev/null 2>&1; then
			deb-systemd-invoke try-restart vigil.service || true
		else
			systemctl try-restart vigil.service || true
		fi
	fi
fi
exit 0
