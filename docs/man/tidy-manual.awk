# Tidies the mdoc page swift-argument-parser's generate-manual writes from the CLI's help
# text, so that `man --warnings` is silent and examples keep their lines. The generator puts
# a command's discussion out verbatim; three things in it are not valid mdoc as they stand:
#   - an empty line (a paragraph break in the help text): mdoc wants `.Pp`;
#   - a run of indented lines (an example block): roff would fill and wrap them, so they go
#     into a literal display (`.Bd -literal` ... `.Ed`), one example per line as in --help;
#   - a text line starting with an apostrophe: roff reads it as a control line, `\&` escapes it.
# It also adds a SEE ALSO section naming the pages given as -v see_also='page 5,page 3'.
# Usage: awk [-v see_also=LIST] -f tidy-manual.awk generated.1 > page.1
function close_literal() { if (literal) { print ".Ed"; literal = 0 } }
/^$/      { close_literal(); print ".Pp"; next }
/^[ \t]/  { if (!literal) { print ".Bd -literal"; literal = 1 } print; next }
          { close_literal() }
/^'/      { print "\\&" $0; next }
          { print }
END       {
    close_literal()
    n = split(see_also, pages, ",")
    if (n > 0) print ".Sh SEE ALSO"
    for (i = 1; i <= n; i++) print ".Xr " pages[i] (i < n ? " ," : "")
}
