# Shared by the fake ALT tools. The fakes are symlinked into a per-test bin directory;
# their state (package index, hasher-priv config, switches, recorded calls) lives in
# <bin>/.state, found from $0, because sborka passes programs no environment of its own.
FAKE_BIN="$(cd "$(dirname "$0")" && pwd)"
STATE="$FAKE_BIN/.state"
mkdir -p "$STATE/calls"

# One file per call: the program name and its argv, NUL-separated.
record() {
	printf '%s\0' "$PROG" "$@" > "$STATE/calls/$(date +%s%N)-$$-$PROG"
}

message() { printf '%s\n' "$PROG: $*" >&2; }
fatal() { message "$@"; exit 1; }
# libshell's show_usage: optional message, the --help hint, exit 1.
show_usage() {
	[ -z "$*" ] || message "$*"
	echo "Try \`$PROG --help' for more information." >&2
	exit 1
}
opt_check_read() {
	[ -r "$2" ] && readlink -ev "$2" || fatal "$1: $2: file not available."
}
opt_check_number_ge_0() {
	case "$2" in
		0) printf 0 ;;
		*[!0-9]*|'') fatal "$1: $2: invalid number." ;;
		*) printf %s "$2" ;;
	esac
}

# hasher's configuration: ~/.hasher/config is a shell file it sources.
load_hasher_config() {
	workdir="$HOME/hasher"
	number=
	lock_nowait=
	if [ -s "$HOME/.hasher/config" ]; then
		. "$HOME/.hasher/config"
	fi
}

# hasher-priv's subconfig lock: a file in .state/locked/<number> stands for another holder.
lock_priv() {
	local n="${number:-0}"
	while [ -e "$STATE/locked/$n" ]; do
		if [ -n "$lock_nowait" ]; then
			fatal 'Failed to lock hasher-priv'
		fi
		sleep 0.2
	done
}

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

# Prints the closure of the named packages as index lines; fails like apt-get on an
# unknown name.
resolve_closure() {
	local index="$1"; shift
	local -A want=() done=()
	local queue=("$@") name line req
	while [ "${#queue[@]}" -gt 0 ]; do
		name="${queue[0]}"; queue=("${queue[@]:1}")
		[ -z "${done[$name]-}" ] || continue
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
