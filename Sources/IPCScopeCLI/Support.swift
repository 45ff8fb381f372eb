import ArgumentParser
import IPCScopeModel
import IPCScopeKit
#if canImport(Glibc)
import Glibc
#endif

/// Writes all of `text` to a descriptor, unbuffered (so logs reach pipes at once).
func writeAll(_ text: String, to fd: Int32) {
    var text = text
    text.withUTF8 { buf in
        var done = 0
        while done < buf.count {
            let n = write(fd, buf.baseAddress! + done, buf.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}

/// Writes text to stdout, unbuffered.
func printOut(_ text: String) { writeAll(text, to: 1) }

/// Writes a line to stdout, unbuffered.
func printLine(_ line: String) { writeAll(line + "\n", to: 1) }

/// Prints one line to stderr, prefixed with `ipcscope: `.
func printError(_ message: String) { writeAll("ipcscope: " + message + "\n", to: 2) }

/// Turns a framework error into a one-line message on stderr and the given exit code.
func fail(_ error: IPCError, code: Int32 = 1) -> ExitCode {
    printError(error.message)
    return ExitCode(code)
}


// MARK: - output helpers for every verb

/// Prints one JSON value as one line on stdout.
func printJSON(_ value: JSON) { printLine(value.rendered) }

/// Colour for stdout: only on a terminal, never with NO_COLOR.
var stdoutStyle: TextStyle { TextStyle.forOutput(1) }

/// A usage error found after parsing (bad payload syntax, unreadable file): one line on stderr, exit 64.
func usageFailure(_ message: String) -> ExitCode {
    printError(message)
    return ExitCode.validationFailure
}


/// Reads a whole file; `-` is stdin.
func readFileBytes(_ path: String) -> [UInt8]? {
    path == "-" ? readAll(fd: 0) : readFileContents(path)
}

/// Sleeps for `ns` nanoseconds.
func sleepNS(_ ns: UInt64) {
    var t = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
    var rest = timespec()
    while nanosleep(&t, &rest) != 0 && errno == EINTR { t = rest }
}
