# Shared by the fake ALT tools, written from the upstream sources they stand in for:
#   libshell 0.5.0 (legionus/libshell 4caec81): shell-error, shell-args, shell-var
#   hasher 1.7.4 (altlinux/hasher b260915): hasher/hsh-sh-functions.in
# Each function says which lines it follows (the behaviour and the exact messages, not the
# code). The fakes are symlinked into a per-test bin directory; their state (package index,
# hasher-priv config, the caller's identity, switches, recorded calls) lives in
# <bin>/.state, found from $0, because sborka passes programs no environment of its own.
FAKE_BIN="$(cd "$(dirname "$0")" && pwd)"
STATE="$FAKE_BIN/.state"
FAKES="$(dirname "$(readlink -f "$0")")"
mkdir -p "$STATE/calls"

# One file per call: the program name and its argv, NUL-separated.
record() {
	printf '%s\0' "$PROG" "$@" > "$STATE/calls/$(date +%s%N)-$$-$PROG"
}

# libshell shell-error:14-25: "PROG: text" on stderr; :27-31 fatal exits 1.
message() { printf '%s\n' "$PROG: $*" >&2; }
fatal() { message "$@"; exit 1; }
verbose() { [ -z "${verbose-}" ] || message "$@"; }

# libshell shell-args:61-66: optional message, the --help hint, exit 1.
show_usage() {
	[ -z "$*" ] || message "$*"
	echo "Try \`$PROG --help' for more information." >&2
	exit 1
}

# libshell shell-args:16-23: a readable file, printed canonicalized.
opt_check_read() {
	[ -r "$2" ] && readlink -fv -- "$2" || fatal "$1: $2: file not available."
}
# libshell shell-args:42-49: a directory that can be entered, printed canonicalized.
opt_check_dir() {
	[ -d "$2" ] && [ -x "$2" ] && readlink -fv -- "$2" || fatal "$1: $2: directory not available."
}
# libshell shell-args:54-59 with shell-var:11-15: a positive decimal number without a
# leading 0 (so 0, 007, 1x and -1 are all refused).
opt_check_number() {
	case "$2" in
		0*|*[!0-9]*|'') fatal "$1: $2: invalid number." ;;
	esac
	printf %s "$2"
}
# hasher/hsh-sh-functions.in:269-276: 0, or a positive number.
opt_check_number_ge_0() {
	if [ "${2-}" = 0 ]; then printf 0; else opt_check_number "$@"; fi
}

# libshell shell-args:80-94 (getopt_common_opts q,v,V,h and their long forms, :78-79).
parse_common_option() {
	case "$1" in
		-h|--help) echo "$PROG - fake of hasher's $PROG (see test/alt/fakes)."; exit 0 ;;
		-q|--quiet) quiet=-q; verbose= ;;
		-v|--verbose) verbose=-v; quiet= ;;
		-V|--version) echo "$PROG version 1.7.4"; exit 0 ;;
		*) fatal "Unrecognized option: $1" ;;
	esac
}

# hasher/hsh-sh-functions.in:52-239 defaults, :241-245 ~/.hasher/config sourced when
# not empty (a shell file: it may set any of them). def_target comes from rpm --showrc
# or uname -m (:212-213); the fakes stand on an x86_64 host.
load_hasher_config() {
	quiet=; verbose=; number=; lock_nowait=; no_lock=; known_mountpoints=; requested_mountpoints=
	apt_config=; apt_prefix=; hasher_priv_dir=; def_hasher_priv_dir="$STATE/libexec-hasher-priv"
	def_target=x86_64; target=; def_repo=repo; repo=; no_stuff=; qemu_arch=; nprocs=
	prog_query_req=; prog_rebuild=; query_repackage=1
	workdir="$HOME/hasher"
	saved_cwd="$(/bin/pwd)"
	if [ -s "$HOME/.hasher/config" ]; then
		. "$HOME/.hasher/config"
	fi
}

# hasher/hsh-sh-functions.in:279-297: cd, canonical path, no bare "/" or "." names, no
# shell-special characters, writable.
set_workdir() {
	cd "$workdir" || exit 1
	workdir="$(/bin/pwd)" || exit 1
	[ -n "$(printf %s "$workdir" | tr -d /.)" ] || fatal "$workdir: illegal working directory."
	if printf %s "$workdir" | LC_ALL=C grep -qs '[`"$\]'; then
		fatal "$workdir: illegal symbols in pathname."
	fi
	[ -w . ] || fatal "$workdir: unwritable working directory."
	aptbox="$workdir/aptbox"; chroot="$workdir/chroot"; entry="$chroot/.host/entry"
}

# hasher/hsh-sh-functions.in:489-526: a lock on the workdir (bash's lockf builtin; flock(1)
# here, the same kind of lock), the holder's pid in <workdir>/pid, the messages on a busy one.
lock_workdir() {
	[ -z "$no_lock" ] || return 0
	exec 9<"$workdir"
	if flock -n 9; then echo $$ > "$workdir/pid"; return 0; fi
	local pid
	if [ -n "$verbose" ] || [ -n "$lock_nowait" ]; then
		if pid="$(head -c32 -- "$workdir/pid" 2>/dev/null)" && [ "$pid" -gt 0 ] 2>/dev/null; then
			if kill -0 -- "$pid" 2>/dev/null; then
				message "working directory \`$workdir' is already locked by pid=$pid."
			else
				message "working directory \`$workdir' is already locked by stale pid=$pid."
			fi
		fi
	fi
	if [ -z "$lock_nowait" ] && flock 9; then echo $$ > "$workdir/pid"; return 0; fi
	fatal "Unable to lock working directory \`$workdir'"
}

# hasher/hsh-sh-functions.in:342-370: the hasher-priv helper directory and its helpers.
check_helpers() {
	local d="${hasher_priv_dir:-$def_hasher_priv_dir}" h
	[ -d "$d" ] || fatal "$d: cannot access hasher-priv helper directory."
	for h in getconf getugid1 getugid2 chrootuid1 chrootuid2; do
		[ -x "$d/$h.sh" ] || fatal "$d/$h.sh: cannot access $h helper."
	done
}

# hasher/hsh-sh-functions.in:583-605 and :685-717: the subconfig's config file is locked
# (getconf names it); with --no-wait-lock a busy one fails at once. A file in
# .state/locked/<number> stands for another holder.
lock_hasher_config() {
	priv_session || fatal 'hasher-priv getconf failed.'
	local n="${number:-0}"
	while [ -e "$STATE/locked/$n" ]; do
		[ -z "$lock_nowait" ] || fatal 'Failed to lock hasher-priv'
		sleep 0.2
	done
}
allocate_lock_hasher_priv() { check_helpers; lock_hasher_config; }

# hasher/hsh-sh-functions.in:659-683: the subconfig that made a chroot is found from the
# chroot's group (getugid1 of each of the user's subconfigs, errors hidden); the fake's
# chroot records it in .fake-number.
deduce_lock_hasher_priv() {
	local dir="${1-$chroot}"
	check_helpers
	[ -d "$dir" ] || fatal "$dir: Directory not available."
	if ! priv_session 2>/dev/null || [ ! -f "$chroot/.fake-number" ]; then
		fatal 'Failed to deduce hasher config number from directory ownership.'
	fi
	number="$(cat "$chroot/.fake-number")"
	[ "$number" != 0 ] || number=
	lock_hasher_config
}

. "$FAKES/hasher-priv.sh"
. "$FAKES/chroot.sh"

# Package index of the fake mirror: .state/repo/<arch>.tsv with
# name epoch version release arch license sourcerpm requires(comma-separated).
# Packages built by hsh join it from <repo>/<arch>/RPMS.hasher/*.rpm (each fake RPM file
# holds its own index line).
index_lines() {
	local arch="$1"; shift
	[ ! -f "$STATE/repo/$arch.tsv" ] || cat "$STATE/repo/$arch.tsv"
	[ ! -f "$STATE/repo/noarch.tsv" ] || cat "$STATE/repo/noarch.tsv"
	local d f
	for d in "$@"; do
		for f in "$d/$arch/RPMS.hasher/"*.rpm; do
			[ -f "$f" ] && sed -n 's/^FAKE-RPM\t//p' "$f"
		done
	done
	return 0
}

# The closure of the named packages as index lines; an unknown name fails as apt-get does.
resolve_closure() {
	local index="$1"; shift
	local -A done=()
	local queue=("$@") name line req
	while [ "${#queue[@]}" -gt 0 ]; do
		name="${queue[0]}"; queue=("${queue[@]:1}")
		[ -z "${done[$name]-}" ] || continue
		case "$name" in /*) done[$name]=1; continue ;; esac
		line="$(awk -F'\t' -v n="$name" '$1 == n { print; exit }' "$index")"
		if [ -z "$line" ]; then
			echo "E: Couldn't find package $name" >&2
			return 100
		fi
		done[$name]=1
		printf '%s\n' "$line"
		req="$(printf '%s' "$line" | cut -f8)"
		IFS=, read -r -a more <<< "$req"
		for m in "${more[@]}"; do [ -z "$m" ] || queue+=("$m"); done
	done
}

# The rpm-dir repositories named in an apt.conf's sources.list.
stuff_repos() {
	local conf="$1" list
	list="$(sed -n 's/^Dir::Etc::sourcelist "\(.*\)";$/\1/p' "$conf")"
	[ -z "$list" ] || sed -n 's/^rpm-dir file:\([^ ]*\) .*/\1/p' "$list"
}
