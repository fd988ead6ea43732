# The fake hasher-priv, written from hasher-priv 2.0.14 (altlinux/hasher-priv 9f3e5ec),
# sourced by lib.sh. What a hasher tool's helper call goes through, in hasher-priv's order:
# the daemon's caller check, the caller's config files, the users it changes to; then for a
# chroot job the prefix and the mount points.
#
# The fake's world: .state/etc-hasher-priv is /etc/hasher-priv; .state/passwd is the
# passwd database (name:uid:gid:home); .state/caller names the user the tools run as (the
# tests themselves may run as root, which real hasher-priv never serves).
PRIV="$STATE/etc-hasher-priv"

priv_die() { printf 'hasher-priv: %s\n' "$*" >&2; return 1; }

# passwd lookup: prints "uid gid home" of a name (or of a uid with -u).
pw_lookup() {
	local field=1
	[ "$1" != -u ] || { field=2; shift; }
	awk -F: -v k="$1" -v f="$field" '$f == k { print $2, $3, $4; found = 1; exit } END { exit !found }' "$STATE/passwd" 2>/dev/null
}

# hasher-priv/file_config.c:27-73: `name=value` lines, leading blanks and `#` comments
# skipped, a line without `=` or with nothing before it is a syntax error; blanks around
# name and value trimmed. :76-103: the file must open (perror "open: FILE").
# hasher-priv/caller_config.c:338-374: the names a caller config takes (case-insensitive);
# any other is opt_parse.c:20-23's "unrecognized option". Settings go to PRIV_<NAME>.
priv_load() {
	local dir="$1" fname="$2" n=0 raw line name value
	[ -f "$dir/$fname" ] || priv_die "open: $fname: No such file or directory" || return 1
	while IFS= read -r raw || [ -n "$raw" ]; do
		n=$((n + 1))
		line="${raw#"${raw%%[![:space:]]*}"}"
		[ -n "$line" ] && [ "${line:0:1}" != '#' ] || continue
		case "$line" in *=*) ;; *) priv_die "$fname: syntax error at line $n"; return 1 ;; esac
		name="${line%%=*}"; name="${name%"${name##*[![:space:]]}"}"
		[ -n "$name" ] || { priv_die "$fname: syntax error at line $n"; return 1; }
		value="${line#*=}"; value="${value#"${value%%[![:space:]]*}"}"; value="${value%"${value##*[![:space:]]}"}"
		name="$(printf %s "$name" | tr '[:upper:]' '[:lower:]')"
		case "$name" in
			user1|user2|umask|nice|nproc|allowed_devices|allowed_mountpoints|allow_ttydev|rlimit_*|wlimit_*) ;;
			prefix)
				# caller_config.c:279-300: each colon-separated entry is "~" (the caller's
				# home) or absolute, trailing slashes dropped.
				local p
				IFS=: read -r -a _pfx <<< "$value"
				for p in "${_pfx[@]}"; do
					[ "$p" = '~' ] || [ "${p:0:1}" = / ] || [ -z "$p" ] || { priv_die "$fname: invalid value \"$p\" for \"prefix\" option"; return 1; }
				done ;;
			*) priv_die "$fname: unrecognized option: $name"; return 1 ;;
		esac
		printf -v "PRIV_${name^^}" %s "$value"
	done < "$dir/$fname"
}

# hasher-priv/caller_config.c:389-429: user1 and user2 must be set, exist, have a uid and
# gid of at least min_uid/min_gid, and differ from the caller; :471-478 from each other.
priv_check_user() {
	local key="$1" name="$2" uid gid home
	[ -n "$name" ] || { priv_die "undefined: $key"; return 1; }
	read -r uid gid home < <(pw_lookup "$name") || { priv_die "$key: $name lookup failure"; return 1; }
	[ "$uid" -ge "$MIN_UID" ] || { priv_die "$key: $name: invalid uid: $uid"; return 1; }
	[ "$gid" -ge "$MIN_GID" ] || { priv_die "$key: $name: invalid gid: $gid"; return 1; }
	[ "$name" != "$CALLER_USER" ] || { priv_die "$key: $name: name coincides with caller"; return 1; }
	[ "$uid" != "$CALLER_UID" ] || { priv_die "$key: $name: uid coincides with caller"; return 1; }
	[ "$gid" != "$CALLER_GID" ] || { priv_die "$key: $name: gid coincides with caller"; return 1; }
	printf -v "PRIV_${key^^}_UID" %s "$uid"; printf -v "PRIV_${key^^}_GID" %s "$gid"
}

# A session for the caller and subconfig $number.
priv_session() {
	CALLER_USER="$(cat "$STATE/caller" 2>/dev/null || id -un)"
	read -r CALLER_UID CALLER_GID CALLER_HOME < <(pw_lookup "$CALLER_USER") || { priv_die 'caller lookup failure'; return 1; }
	# hasher-priv/server_config.c:25-32 (min_uid and min_gid 34, settable in daemon.conf,
	# :66-69) and hasher-privd.c:127-139: the daemon refuses a caller below min_uid or with
	# its own uid (root); it only logs "invalid uid: N" and drops the connection, so the
	# client says hasher-priv.c:36-38's message.
	MIN_UID="$(sed -n 's/^[[:space:]]*min_uid[[:space:]]*=[[:space:]]*//Ip' "$PRIV/daemon.conf" 2>/dev/null | tail -n1)"; MIN_UID="${MIN_UID:-34}"
	MIN_GID="$(sed -n 's/^[[:space:]]*min_gid[[:space:]]*=[[:space:]]*//Ip' "$PRIV/daemon.conf" 2>/dev/null | tail -n1)"; MIN_GID="${MIN_GID:-34}"
	if [ "$CALLER_UID" -lt "$MIN_UID" ] || [ "$CALLER_UID" = 0 ]; then
		echo "invalid uid: $CALLER_UID" >> "$STATE/hasher-privd.log"
		priv_die 'failed to receive header in response to session request'; return 1
	fi
	if [ "$CALLER_GID" -lt "$MIN_GID" ] || [ "$CALLER_GID" = 0 ]; then
		echo "invalid gid: $CALLER_GID" >> "$STATE/hasher-privd.log"
		priv_die 'failed to receive header in response to session request'; return 1
	fi
	# hasher-priv/caller_config.c:431-479: system, then user.d/<uid> if it exists or else
	# user.d/<user>; for a subconfig user1/user2 are dropped and user.d/<uid>:<N> (or
	# <user>:<N>) read. A later file's setting replaces an earlier one's (:250-277 for lists).
	unset "${!PRIV_@}"
	priv_load "$PRIV" system || return 1
	if [ -f "$PRIV/user.d/$CALLER_UID" ]; then priv_load "$PRIV/user.d" "$CALLER_UID" || return 1
	else priv_load "$PRIV/user.d" "$CALLER_USER" || return 1; fi
	if [ -n "${number-}" ] && [ "$number" != 0 ]; then
		PRIV_USER1=; PRIV_USER2=
		if [ -f "$PRIV/user.d/$CALLER_UID:$number" ]; then priv_load "$PRIV/user.d" "$CALLER_UID:$number" || return 1
		else priv_load "$PRIV/user.d" "$CALLER_USER:$number" || return 1; fi
	fi
	priv_check_user user1 "${PRIV_USER1-}" || return 1
	priv_check_user user2 "${PRIV_USER2-}" || return 1
	[ "$PRIV_USER1" != "$PRIV_USER2" ] || { priv_die 'user1 coincides with user2'; return 1; }
	[ "$PRIV_USER1_UID" != "$PRIV_USER2_UID" ] || { priv_die 'uid of user1 coincides with uid of user2'; return 1; }
	[ "$PRIV_USER1_GID" != "$PRIV_USER2_GID" ] || { priv_die 'gid of user1 coincides with gid of user2'; return 1; }
}

# A chroot job in directory $1 with requested mount points $2 (comma-separated).
priv_chroot() {
	local dir="$1" requested="${2-}" cwd p ok
	priv_session || return 1
	# hasher-priv/chdiruid.c:29-67: with a prefix set, the chroot's real path must be one of
	# the prefixes or under one ("~" is the caller's home, caller.c:53-59; :282 of
	# caller_config.c); without one, any directory.
	cwd="$(cd "$dir" && /bin/pwd -P)" || { priv_die "chdir: $dir: No such file or directory"; return 1; }
	if [ -n "${PRIV_PREFIX+set}" ]; then
		ok=
		IFS=: read -r -a _pfx <<< "$PRIV_PREFIX"
		for p in "${_pfx[@]}"; do
			[ "$p" != '~' ] || p="$CALLER_HOME"
			while [ "${#p}" -gt 1 ] && [ "${p%/}" != "$p" ]; do p="${p%/}"; done
			case "$cwd" in "$p"|"$p"/*) ok=1; break ;; esac
		done
		[ -n "$ok" ] || { priv_die "$cwd: prefix mismatch, working directory should start with one of directories listed in colon-separated prefix list ($PRIV_PREFIX)"; return 1; }
	fi
	# hasher-priv/mount.c:240-289: /dev and /dev/shm always; any other must be absolute and
	# allowed as a device (a /dev/ name) or as a mount point, not both. Lists split on
	# blanks and commas (caller_config.c:250-270).
	local devs=" $(printf %s "${PRIV_ALLOWED_DEVICES-}" | tr ',\t' '  ') " mps=" $(printf %s "${PRIV_ALLOWED_MOUNTPOINTS-}" | tr ',\t' '  ') " item d m
	IFS=', ' read -r -a _req <<< "$requested"
	for item in "${_req[@]}"; do
		case "$item" in ''|/dev|/dev/shm) continue ;; esac
		case "$item" in /[!/]*) ;; *) priv_die "$item: mount point is not supported"; return 1 ;; esac
		d=; m=
		case "$devs" in *" $item "*) d=1 ;; esac
		case "$mps" in *" $item "*) m=1 ;; esac
		if [ -n "$d" ] && [ -n "$m" ]; then priv_die "$item: configured as device and mount point simultaneously"; return 1; fi
		if [ -n "$d" ]; then
			case "$item" in /dev/*) ;; *) priv_die "$item: device name is not supported"; return 1 ;; esac
		elif [ -z "$m" ]; then
			priv_die "$item: mount point is not allowed"; return 1
		else
			# mount.c:219-237: an allowed mount point needs an entry in /etc/hasher-priv/fstab
			# or in the built-in table (:40-49: /proc, /dev/pts, /sys, /sys/fs/cgroup).
			case "$item" in /proc|/dev/pts|/sys|/sys/fs/cgroup) ;;
				*) awk -v m="$item" '!/^#/ && $2 == m { f = 1 } END { exit !f }' "$PRIV/fstab" 2>/dev/null ||
					{ priv_die "$item: mount point is not supported"; return 1; } ;;
			esac
		fi
	done
}
