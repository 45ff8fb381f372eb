#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopePOSIX

// Everything in /dev/shm is writable by every local user, so a reader opens what it finds
// there as if an attacker had put it there: never following a link, never blocking on a
// FIFO or a device, and refusing anything that is not a regular file before reading a byte.

/// Opens `path` for reading without blocking and without following a link, and keeps the
/// descriptor only when `fstat` calls it a regular file.
///
/// `O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC`: a FIFO opens at once (and is then
/// refused), a symlink fails with `ELOOP`, a socket with `ENXIO`.
/// - Throws: `noSuchService` (ENOENT), `foreignOwner` (EACCES: another user's object),
///   `corruptSection` (not a regular file; the message names what it is), `system` otherwise.
package func openObjectReadOnly(path: String, service: String) throws(IPCError) -> Int32 {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC)
    if fd < 0 {
        let e = errno
        var st = stat()
        let kind = lstat(path, &st) == 0 ? FileKind(mode: st.st_mode).name : nil
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
    guard FileKind.isRegular(mode: st.st_mode) else {
        close(fd)
        throw notRegular(path: path, service: service, kind: FileKind(mode: st.st_mode).name)
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
package struct DirectoryName: Sendable, Hashable, Comparable {
    /// The bytes after `ipcscope.`.
    package var bytes: [UInt8]

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Whether the bytes are a valid service name (`A-Z a-z 0-9 . _ -`, 1 to 128, not starting with `.` or `-`).
    package var isServiceName: Bool { (try? ServiceName(String(decoding: bytes, as: UTF8.self))) != nil && bytes.allSatisfy { $0 < 0x80 } }

    /// The name as text safe for any terminal: printable ASCII as is, `\` doubled, every other
    /// byte (ESC, newline, bytes of non-ASCII or invalid UTF-8) as `\xHH`.
    package var escaped: String { escapeForTerminal(bytes) }

    /// The file's path, `/dev/shm/ipcscope.<bytes>`, as a NUL-terminated C string.
    package var cPath: [CChar] {
        Array((SectionDirectory.directory + "/" + ServiceName.filePrefix).utf8).map { CChar(bitPattern: $0) }
            + bytes.map { CChar(bitPattern: $0) } + [0]
    }

    package static func < (a: DirectoryName, b: DirectoryName) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// Bytes as text that cannot move the cursor or change the terminal: printable ASCII stays,
/// `\` becomes `\\`, anything else `\xHH`.
package func escapeForTerminal(_ bytes: [UInt8]) -> String {
    var out = ""
    for b in bytes {
        if b == 0x5c { out += "\\\\" } else if b >= 0x20 && b < 0x7f { out.unicodeScalars.append(Unicode.Scalar(b)) } else {
            out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
        }
    }
    return out
}

/// `escapeForTerminal` for a string that may hold anything (a name given on the command line).
package func escapeForTerminal(_ text: String) -> String { escapeForTerminal(Array(text.utf8)) }

// MARK: - the mutex owner

