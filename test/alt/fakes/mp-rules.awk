# The fake make's reading of mkimage-profiles makefiles (conf.d/*.mk, features.in/*/config.mk):
# prints "target<TAB>prerequisites" for every rule make would see with ARCH, BRANCH and
# IMAGE_CLASS set (-v ARCH=... BRANCH=... CLASS=...), as `make -p` lists them for main.mk
# lines 55-60. The conditions conf.d puts around rules are ifeq/ifneq (A,B) of plain words,
# $(ARCH)/$(BRANCH)/$(IMAGE_CLASS) and $(filter-out WORDS,$(VAR)) (% patterns); a condition
# of any other form is a fake's limitation and stops it (exit 3), never a silent guess.
function val(t,   m, w, n, i, pat, v) {
	gsub(/^[ \t]+|[ \t]+$/, "", t)
	if (t == "$(ARCH)") return ARCH
	if (t == "$(BRANCH)") return BRANCH
	if (t == "$(IMAGE_CLASS)") return CLASS
	if (match(t, /^\$\(filter-out [^,]*,\$\((ARCH|BRANCH|IMAGE_CLASS)\)\)$/)) {
		v = t; sub(/^\$\(filter-out [^,]*,\$\(/, "", v); sub(/\)\)$/, "", v)
		v = (v == "ARCH") ? ARCH : (v == "BRANCH") ? BRANCH : CLASS
		w = t; sub(/^\$\(filter-out /, "", w); sub(/,.*$/, "", w)
		n = split(w, words, /[ \t]+/)
		for (i = 1; i <= n; i++) {
			pat = words[i]
			if (pat == "") continue
			if (index(pat, "%")) { gsub(/\./, "\\.", pat); sub(/%/, ".*", pat); if (v ~ ("^" pat "$")) return "" }
			else if (v == pat) return ""
		}
		return v
	}
	if (index(t, "$")) { printf "fake make: cannot evaluate %s in %s\n", t, FILENAME > "/dev/stderr"; exit 3 }
	return t
}
function cond(line,   kind, body, depth, i, c, at) {
	kind = line; sub(/[ \t(].*$/, "", kind)
	body = line; sub(/^[a-z]+[ \t]*\(/, "", body); sub(/\)[ \t]*$/, "", body)
	depth = 0; at = 0
	for (i = 1; i <= length(body); i++) {
		c = substr(body, i, 1)
		if (c == "(") depth++
		else if (c == ")") depth--
		else if (c == "," && depth == 0) { at = i; break }
	}
	if (!at) { printf "fake make: cannot evaluate %s in %s\n", line, FILENAME > "/dev/stderr"; exit 3 }
	return (kind == "ifeq") == (val(substr(body, 1, at - 1)) == val(substr(body, at + 1)))
}
function active(   i) { for (i = 1; i <= sp; i++) if (!on[i]) return 0; return 1 }
{ while ($0 ~ /\\$/ && (getline nxt) > 0) { sub(/\\$/, "", $0); $0 = $0 " " nxt } }
FNR == 1 { sp = 0 }
/^[ \t]*(ifeq|ifneq)[ \t(]/ { l = $0; sub(/^[ \t]+/, "", l); sp++; on[sp] = cond(l); taken[sp] = on[sp]; next }
/^[ \t]*else/ {
	l = $0; sub(/^[ \t]*else[ \t]*/, "", l)
	if (l == "") { on[sp] = !taken[sp] } else { c = cond(l); on[sp] = !taken[sp] && c; if (on[sp]) taken[sp] = 1 }
	next
}
/^[ \t]*endif/ { sp--; next }
!active() { next }
/^[^\t#$ ][^:=]*:([^=]|$)/ {
	t = $0; sub(/:.*$/, "", t); gsub(/^[ \t]+|[ \t]+$/, "", t)
	d = $0; sub(/^[^:]*:+/, "", d); sub(/;.*$/, "", d); sub(/\\$/, "", d); gsub(/^[ \t]+|[ \t]+$/, "", d)
	n = split(t, ts, /[ \t]+/)
	for (i = 1; i <= n; i++) print ts[i] "\t" d
}
