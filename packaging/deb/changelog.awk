# CHANGELOG.md -> debian/changelog: one entry per release, newest first.
#
#   awk -v package=ipcscope -v version=0.1.0 -v revision=1 -v maintainer='Name <mail>' \
#       -v tree_date='Sat, 05 Dec 2026 10:00:00 +0000' -f changelog.awk CHANGELOG.md
#
# `version` is what the built `ipcscope --version` says; CHANGELOG.md must have a
# `## [version] - YYYY-MM-DD` section for it (else the script fails, saying so). Entries are
# `package (release-revision)`. A non-empty `## [Unreleased]` section means the package holds
# changes made after that release: they open the newest entry under their own heading, that
# entry is dated `tree_date` (the tree's, not the release's) and its distribution is
# UNRELEASED. Markdown survives as text: `### Group` becomes `* Group:`, each `- item` a `-`
# bullet under it, a paragraph its own `*` line, `[text](link)` becomes `text (link)`; every
# line is wrapped to 78 columns.

function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }

# [text](link) -> text (link); [x](x) -> x.
function unlink(s,    out, t, u) {
    out = ""
    while (match(s, /\[[^]]*\]\([^)]*\)/)) {
        t = substr(s, RSTART + 1); t = substr(t, 1, index(t, "]") - 1)
        u = substr(s, RSTART + length(t) + 3, RLENGTH - length(t) - 4)
        out = out substr(s, 1, RSTART - 1) (t == u ? t : t " (" u ")")
        s = substr(s, RSTART + RLENGTH)
    }
    return out s
}

# Words of `text` in lines of at most 78 columns: the first after `first`, the rest after `rest`.
function wrap(text, first, rest,    words, n, i, line, out) {
    n = split(unlink(text), words, /[ \t]+/)
    line = first; out = ""
    for (i = 1; i <= n; i++) {
        if (words[i] == "") continue
        if (line != first && line != rest && length(line) + 1 + length(words[i]) > 78) {
            out = out line "\n"; line = rest
        }
        line = line ((line == first || line == rest) ? "" : " ") words[i]
    }
    return out line "\n"
}

# Ends the bullet or paragraph being gathered, appending it to the current section's text.
function flush() {
    if (pending == "") return
    if (pending_kind == "item" && group != "") body[current] = body[current] wrap(pending, "    - ", "      ")
    else body[current] = body[current] wrap(pending, "  * ", "    ")
    pending = ""
}

function rfc2822(day,    cmd, out) {
    cmd = "date -u -R -d '" day " 00:00:00'"
    cmd | getline out; close(cmd)
    return out
}

BEGIN { current = ""; count = 0 }

/^## \[/ {
    flush()
    name = $0; sub(/^## \[/, "", name); sub(/\].*/, "", name)
    day = $0; sub(/^[^]]*\][ \t]*(-[ \t]*)?/, "", day)
    current = name; group = ""
    if (name != "Unreleased") { order[++count] = name; dated[name] = trim(day) }
    next
}
current == "" { next }    # the preamble
/^### / { flush(); group = trim(substr($0, 5)); body[current] = body[current] wrap(group ":", "  * ", "    "); next }
/^- / { flush(); pending = substr($0, 3); pending_kind = "item"; next }
/^[ \t]*$/ { flush(); next }
/^  / && pending != "" { pending = pending " " trim($0); next }
{ if (pending == "") { pending = trim($0); pending_kind = "text" } else pending = pending " " trim($0) }

END {
    flush()
    found = 0
    for (i = 1; i <= count; i++) if (order[i] == version) found = i
    if (!found) {
        printf "changelog.awk: CHANGELOG.md has no '## [%s] - YYYY-MM-DD' section, but ipcscope --version says %s: " \
            "add the release's section (or fix the version in Sources/IPCScopeCLI/IPCScope.swift)\n", version, version > "/dev/stderr"
        exit 1
    }
    if (dated[version] !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$/) {
        printf "changelog.awk: CHANGELOG.md's section for %s has no date ('## [%s] - YYYY-MM-DD')\n", version, version > "/dev/stderr"
        exit 1
    }
    unreleased = body["Unreleased"] != ""
    for (i = found; i <= count; i++) {
        release = order[i]
        if (i > found) printf "\n"
        printf "%s (%s-%s) %s; urgency=medium\n\n", package, release, revision, \
            (i == found && unreleased ? "UNRELEASED" : "unstable")
        if (i == found && unreleased) {
            printf "  [ Not in a release yet: built from a tree after %s ]\n%s\n", release, body["Unreleased"]
            printf "  [ %s, released %s ]\n", release, dated[release]
        }
        printf "%s\n", body[release] == "" ? "  * Release " release ".\n" : body[release]
        printf " -- %s  %s\n", maintainer, (i == found && unreleased ? tree_date : rfc2822(dated[release]))
    }
}
