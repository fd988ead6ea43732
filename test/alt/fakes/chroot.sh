# The fake hasher chroot, sourced by lib.sh. A real chroot holds the packages' files; the
# fake one holds, per installed package, small scripts standing for the programs it ships
# (below), and its rpm database ($RPMDB, under rpm's %_dbpath /var/lib/rpm). Programs run "in the chroot" are looked up
# there only, with PATH limited to the chroot's bin directories, so a program the chroot
# lacks is not found, as in the real chroot, and nothing runs against the host's /.

# Programs each fake package ships: "package path kind" (kind: a fake tool's name, or
# true/false/echo/sh for the coreutils and bash stand-ins).
SHIPPED='
bash /bin/sh sh
bash /bin/bash sh
coreutils /bin/true true
coreutils /bin/false false
coreutils /bin/echo echo
rpm /bin/rpm rpm
rpm /usr/bin/rpm rpm
rpm /usr/bin/rpmquery rpm
rpm-build-vm-run /usr/bin/vm-run vm-run
'

# Writes the programs of the named packages into the chroot.
install_shipped() {
	local root="$1"; shift
	local pkg p kind f
	for pkg; do
		while read -r p f kind; do
			[ "$p" = "$pkg" ] || continue
			mkdir -p "$root$(dirname "$f")"
			case "$kind" in
				true) printf '%s\nexit 0\n' "$SHIPPED_HEAD" ;;
				false) printf '%s\nexit 1\n' "$SHIPPED_HEAD" ;;
				echo) printf '%s\nprintf "%%s\\n" "$*"\n' "$SHIPPED_HEAD" ;;
				sh) printf '%s\nexec /bin/bash "$@"\n' "$SHIPPED_HEAD" ;;
				# A fake tool itself runs with the host's PATH (it is a bash script of the host).
				*) printf '%s\nPATH="$FAKE_HOST_PATH" exec %q "$@"\n' "$SHIPPED_HEAD" "$FAKE_BIN/$kind" ;;
			esac > "$root$f"
			chmod 755 "$root$f"
		done <<< "$SHIPPED"
	done
}

# The fake rpm database inside a chroot: name epoch version release arch license sourcerpm.
RPMDB=/var/lib/rpm/fake-rpmdb

SHIPPED_HEAD=$'#!/bin/bash\n# sborka fake: shipped by a package'
CHROOT_PATH_DIRS='/usr/bin /bin /usr/sbin /sbin'

# Runs argv in the chroot $1, from the job's entry line $2 (for bash's messages: the
# hasher entry script execs the program, hasher/hsh-run:190-192). Exits with its status,
# 127 when the chroot has no such program, as bash's exec does.
chroot_exec() {
	local root="$1" line="$2"; shift 2
	local prog="$1" found= d p
	if [ "${prog#*/}" != "$prog" ]; then
		[ -e "$root$prog" ] || { echo "/.host/entry: line $line: $prog: No such file or directory" >&2; exit 127; }
		found="$root$prog"
	else
		for d in $CHROOT_PATH_DIRS; do
			[ -x "$root$d/$prog" ] && { found="$root$d/$prog"; break; }
		done
		[ -n "$found" ] || { echo "/.host/entry: line $line: exec: $prog: not found" >&2; exit 127; }
	fi
	[ -x "$found" ] || { echo "/.host/entry: line $line: $prog: Permission denied" >&2; exit 126; }
	shift
	p=
	for d in $CHROOT_PATH_DIRS; do p="$p${p:+:}$root$d"; done
	export FAKE_HSH_CHROOT="$root" FAKE_HOST_PATH="${FAKE_HOST_PATH:-$PATH}"
	cd "$root/.in" 2>/dev/null || cd "$root"
	# A script that is not one of the stand-ins runs under its interpreter from the chroot.
	if [ "$(sed -n 2p "$found")" != '# sborka fake: shipped by a package' ]; then
		local first interp
		first="$(head -n1 "$found")"
		[ "${first:0:2}" = '#!' ] || { echo "/.host/entry: line $line: $prog: cannot execute binary file: Exec format error" >&2; exit 126; }
		interp="${first#\#!}"; interp="${interp%% *}"
		[ -x "$root$interp" ] || { echo "/.host/entry: line $line: $prog: $interp: bad interpreter: No such file or directory" >&2; exit 126; }
		PATH="$p" exec "$root$interp" "$found" "$@"
	fi
	PATH="$p" exec "$found" "$@"
}

# A package's %post (the index line's 9th field, base64), run as rpm runs it: /bin/sh from
# the root, after the package's files. Where it ran goes to .state/scriptlets ("vm" inside
# the fake vm-run, else the program that ran it) so tests see which path a scriptlet took.
# A failing %post is a warning, the install goes on.
run_post() {
	local root="$1" line="$2" name script rc=0
	name="$(printf '%s' "$line" | cut -f1)"
	script="$(printf '%s' "$line" | cut -f9 | base64 -d 2>/dev/null)" || script=
	[ -n "$script" ] || return 0
	local who="$PROG"; [ -z "${FAKE_VM-}" ] || who=vm
	printf "%s\t%s\n" "$who" "$name" >> "$STATE/scriptlets"
	( chroot_exec "$root" 1 /bin/sh -c "$script" ) || rc=$?
	[ "$rc" -eq 0 ] || echo "warning: %post($(printf '%s' "$line" | cut -f1,3,4 | tr '\t' -)) scriptlet failed, exit status $rc" >&2
}
