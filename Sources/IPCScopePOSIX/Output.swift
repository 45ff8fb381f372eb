// Printing for the executables: whole lines to standard output and standard error, unbuffered
// (the tools' output interleaves with their children's and must survive a crash).

/// Writes `text` to standard output as it is.
package func printOut(_ text: String) { writeAll(text, to: 1) }

/// Writes `text` and a newline to standard output.
package func printLine(_ text: String) { writeAll(text + "\n", to: 1) }

/// Writes `text` and a newline to standard error.
package func printErrorLine(_ text: String) { writeAll(text + "\n", to: 2) }

/// Prints one line to standard error, prefixed with `ipcscope: ` (the tool's own messages).
package func printError(_ message: String) { writeAll("ipcscope: " + message + "\n", to: 2) }
