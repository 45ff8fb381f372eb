import ArgumentParser
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeKit
import IPCScopeScript
#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

/// Turns a framework error into a one-line message on stderr and the given exit code; a bad
/// service name or argument is a usage error whatever the verb (exit 64, as the help says).
func fail(_ error: IPCError, code: Int32 = 1) -> ExitCode {
    printError(namingStates(error.message))
    switch error.code {
    case .badName, .invalidArgument: return ExitCode.validationFailure
    default: return ExitCode(code)
    }
}

/// `(state 2)` in a framework message becomes `(state 2 PROCESSING)`: the number alone means
/// nothing to whoever reads it.
func namingStates(_ message: String) -> String {
    guard let r = message.firstRange(of: "(state ") else { return message }
    let digits = message[r.upperBound...].prefix { $0.isNumber }
    guard !digits.isEmpty, message[r.upperBound...].dropFirst(digits.count).first == ")",
          let raw = UInt32(digits), let state = ProtocolState(rawValue: raw) else { return message }
    let end = message.index(r.upperBound, offsetBy: digits.count)
    return String(message[..<end]) + " " + state.name + String(message[end...])
}

/// A script that cannot be used: its error already says what to do when the file cannot be
/// read (line 0); a script with a mistake in it points to the script docs.
func scriptFailure(_ error: ScriptError) -> ExitCode {
    printError(error.line == 0 ? error.description : "\(error.description): fix the script (see docs/scripts.md)")
    return ExitCode(1)
}


// MARK: - output helpers for every verb

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
