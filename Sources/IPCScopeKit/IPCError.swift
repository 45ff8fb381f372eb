#if canImport(Glibc)
import Glibc
#endif

/// The one error type of the framework: what failed, on which service, and what to do.
///
/// `code` is stable and meant for programs; `description` is one line meant for
/// people. New codes may be added, so switch over `code` with a `default:`.
public struct IPCError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is.
    public enum Code: String, Sendable, Equatable {
        /// The service name is not 1–128 characters of `A-Z a-z 0-9 . _ -`.
        case badName
        /// A live server already serves this name.
        case nameInUse
        /// No section exists for this name.
        case noSuchService
        /// The section exists but no server holds its liveness lock.
        case serverNotRunning
        /// The server died, stopped or restarted while a call was in flight.
        case serverGone
        /// The deadline passed.
        case timeout
        /// The caller gave the call up (`CallCancellation.cancel()`).
        case cancelled
        /// The payload is larger than the section's capacity.
        case payloadTooLarge
        /// The object belongs to a uid this process does not trust.
        case foreignOwner
        /// The object is writable by every user and this process was not told to trust it.
        case untrustedMode
        /// The section is being created: its server holds the liveness lock but has not finished.
        case serverStarting
        /// The object is a section of another version or layout.
        case incompatibleSection
        /// The object is truncated, garbage, or not a section.
        case corruptSection
        /// The robust mutex is `ENOTRECOVERABLE`.
        case mutexUnrecoverable
        /// The server answered something that breaks the protocol.
        case protocolError
        /// The caller's buffer is smaller than the response.
        case bufferTooSmall
        /// The client was disconnected.
        case disconnected
        /// Options are out of range.
        case invalidArgument
        /// The system refused (permission, no memory, …); `errno` says why.
        case system
    }

    /// What kind of failure this is.
    public let code: Code
    /// The service the operation was about, if any.
    public let service: String?
    /// One line for a person: what failed and what to do.
    public let message: String
    /// The errno value behind the failure, if one was involved.
    public let errno: Int32?
    /// A process id the error is about (the live server for `nameInUse`).
    public let pid: Int32?

    /// Makes an error; `message` should say what to do.
    public init(_ code: Code, service: String? = nil, _ message: String, errno: Int32? = nil, pid: Int32? = nil) {
        self.code = code
        self.service = service
        self.message = message
        self.errno = errno
        self.pid = pid
    }

    /// The one-line ``message``, for people.
    public var description: String { message }

    /// A system call failed: names the call, the service and the errno text.
    static func system(_ call: String, service: String?, errno e: Int32) -> IPCError {
        let what = service.map { " for service '\($0)'" } ?? ""
        var hint = ""
        if e == EACCES || e == EPERM { hint = "; check the object's owner and mode (ls -l /dev/shm)" }
        if e == ENOMEM || e == ENOSPC { hint = "; /dev/shm may be full (df -h /dev/shm)" }
        return IPCError(.system, service: service, "\(call) failed\(what): \(errnoText(e))\(hint)", errno: e)
    }
}

/// `strerror` for an errno value, as a Swift string.
func errnoText(_ e: Int32) -> String {
    String(cString: strerror(e)) + " (errno \(e))"
}

/// "uid 65534 (nobody)", or "uid N" when the uid has no name.
func userName(_ uid: uid_t) -> String {
    var pw = passwd()
    var result: UnsafeMutablePointer<passwd>?
    var buf = [CChar](repeating: 0, count: 4096)
    if getpwuid_r(uid, &pw, &buf, buf.count, &result) == 0, let r = result, let n = r.pointee.pw_name {
        return "uid \(uid) (\(String(cString: n)))"
    }
    return "uid \(uid)"
}

/// A file mode in octal, as `ls` and `chmod` write it ("0666").
func octal(_ mode: mode_t) -> String {
    let s = String(mode, radix: 8)
    return String(repeating: "0", count: max(0, 4 - s.count)) + s
}
