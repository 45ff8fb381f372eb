#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit

// Everything in /dev/shm is writable by every local user, so a reader opens what it finds
// there as if an attacker had put it there: never following a link, never blocking on a
// FIFO or a device, and refusing anything that is not a regular file before reading a byte.

/// The file-type bits of `st_mode` (`S_IFMT` and friends, spelled out: Glibc's are ambiguous in Swift).
public enum FileType {
    static let mask: UInt32 = 0o170000
    static let regular: UInt32 = 0o100000
    static let directory: UInt32 = 0o040000

    /// Whether `mode` is a regular file's.
    public static func isRegular(_ mode: UInt32) -> Bool { mode & mask == regular }
    /// Whether `mode` is a directory's.
    public static func isDirectory(_ mode: UInt32) -> Bool { mode & mask == directory }
}

/// What kind of file a `st_mode` names, in words ("FIFO", "directory", …).
public func fileKindName(_ mode: UInt32) -> String {
    switch mode & FileType.mask {
    case 0o100000: "regular file"
    case 0o010000: "FIFO"
    case 0o040000: "directory"
    case 0o140000: "socket"
    case 0o020000: "character device"
    case 0o060000: "block device"
    case 0o120000: "symbolic link"
    default: "unknown file type"
    }
}

/// Opens `path` for reading without blocking and without following a link, and keeps the
/// descriptor only when `fstat` calls it a regular file.
///
/// `O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC`: a FIFO opens at once (and is then
/// refused), a symlink fails with `ELOOP`, a socket with `ENXIO`.
/// - Throws: `noSuchService` (ENOENT), `foreignOwner` (EACCES: another user's object),
///   `corruptSection` (not a regular file; the message names what it is), `system` otherwise.
public func openObjectReadOnly(path: String, service: String) throws(IPCError) -> Int32 {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC)
    if fd < 0 {
        let e = errno
        var st = stat()
        let kind = lstat(path, &st) == 0 ? fileKindName(st.st_mode) : nil
        switch e {
        case ENOENT:
            throw IPCError(.noSuchService, service: service,
                           "no service named '\(service)' (\(path) does not exist): start its server, or see 'ipcscope list'", errno: e)
        case EACCES:
            throw IPCError(.foreignOwner, service: service,
                           "\(path) is not readable by you (owner \(Units.user(st.st_uid)), mode \(Units.mode(st.st_mode & 0o7777))): ask its owner, or run as root", errno: e)
        case ELOOP, ENXIO, ENODEV:
            throw notRegular(path: path, service: service, kind: kind ?? "not a regular file")
        default:
            throw IPCError(.system, service: service, "cannot open \(path): \(String(cString: strerror(e)))", errno: e)
        }
    }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
        let e = errno
        close(fd)
        throw IPCError(.system, service: service, "cannot fstat \(path): \(String(cString: strerror(e)))", errno: e)
    }
    guard FileType.isRegular(st.st_mode) else {
        close(fd)
        throw notRegular(path: path, service: service, kind: fileKindName(st.st_mode))
    }
    return fd
}

/// The error for an object that is a FIFO, directory, socket, device or link.
func notRegular(path: String, service: String, kind: String) -> IPCError {
    IPCError(.corruptSection, service: service,
             "\(path) is not a regular file (\(kind)), so it is not a section: remove it with 'ipcscope clean \(service)'")
}

// MARK: - names from /dev/shm

/// A name as it appears in a directory: raw bytes, which may be anything but `/` and NUL.
public struct DirectoryName: Sendable, Hashable, Comparable {
    /// The bytes after `ipcscope.`.
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Whether the bytes are a valid service name (`A-Z a-z 0-9 . _ -`, 1 to 128, not starting with `.` or `-`).
    public var isServiceName: Bool { (try? ServiceName(String(decoding: bytes, as: UTF8.self))) != nil && bytes.allSatisfy { $0 < 0x80 } }

    /// The name as text safe for any terminal: printable ASCII as is, `\` doubled, every other
    /// byte (ESC, newline, bytes of non-ASCII or invalid UTF-8) as `\xHH`.
    public var escaped: String { escapeForTerminal(bytes) }

    /// The file's path, `/dev/shm/ipcscope.<bytes>`, as a NUL-terminated C string.
    public var cPath: [CChar] {
        Array((SectionDirectory.directory + "/" + ServiceName.filePrefix).utf8).map { CChar(bitPattern: $0) }
            + bytes.map { CChar(bitPattern: $0) } + [0]
    }

    public static func < (a: DirectoryName, b: DirectoryName) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// Bytes as text that cannot move the cursor or change the terminal: printable ASCII stays,
/// `\` becomes `\\`, anything else `\xHH`.
public func escapeForTerminal(_ bytes: [UInt8]) -> String {
    var out = ""
    for b in bytes {
        if b == 0x5c { out += "\\\\" } else if b >= 0x20 && b < 0x7f { out.unicodeScalars.append(Unicode.Scalar(b)) } else {
            out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
        }
    }
    return out
}

/// `escapeForTerminal` for a string that may hold anything (a name given on the command line).
public func escapeForTerminal(_ text: String) -> String { escapeForTerminal(Array(text.utf8)) }

// MARK: - the mutex owner

/// Whether thread `tid` exists (`/proc/<tid>` answers for any thread id of this pid namespace).
/// Nil for a tid of 0 or below.
public func threadExists(_ tid: Int32) -> Bool? {
    guard tid > 0 else { return nil }
    var st = stat()
    if stat("/proc/\(tid)", &st) == 0 { return true }
    return errno == ENOENT ? false : nil
}
