#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit

/// One `ipcscope.*` object in /dev/shm, as `ipcscope list` shows it.
public struct SectionEntry: Sendable {
    /// The service part of the file name (after `ipcscope.`).
    public var name: String
    /// `/dev/shm/ipcscope.<name>`.
    public var path: String
    /// Size, owner and mode from `lstat`.
    public var objectSize: Int
    public var ownerUID: UInt32
    public var mode: UInt32
    /// Whether a server holds the liveness lock.
    public var alive: Bool
    /// The decoded section, when the name is valid and the object could be read.
    public var snapshot: Snapshot?
    /// The server's command (`/proc/<pid>/comm`), only while it is alive.
    public var serverCommand: String?
    /// Why the object is not a usable section (bad name, unreadable, invalid), if it is not.
    public var problem: String?

    /// No server holds the lock: the section is left over.
    public var stale: Bool { !alive }
    /// A valid section of this format version.
    public var valid: Bool { problem == nil && (snapshot?.isValid ?? false) }
}

/// What `SectionDirectory.remove` did.
public enum RemoveOutcome: Sendable, Equatable {
    case removed
    /// A server holds the liveness lock: never removed.
    case alive
    /// The object was gone already.
    case missing
    /// The object could not be removed; the message says why and what to do.
    case failed(String)
}

/// Finds, inspects and removes section objects in /dev/shm. Inspection is read-only
/// (`O_RDONLY`, `pread`, `F_OFD_GETLK`).
public enum SectionDirectory {
    /// Where POSIX shared-memory objects appear.
    public static let directory = "/dev/shm"

    /// The service parts of every `/dev/shm/ipcscope.*` object, sorted.
    public static func names() -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(ServiceName.filePrefix), name.count > ServiceName.filePrefix.count {
                out.append(String(name.dropFirst(ServiceName.filePrefix.count)))
            }
        }
        return out.sorted()
    }

    /// Inspects one object (read-only).
    public static func entry(_ name: String) -> SectionEntry {
        let path = directory + "/" + ServiceName.filePrefix + name
        var st = stat()
        let exists = lstat(path, &st) == 0
        var e = SectionEntry(name: name, path: path, objectSize: exists ? Int(st.st_size) : 0,
                             ownerUID: exists ? st.st_uid : 0, mode: exists ? st.st_mode & 0o7777 : 0,
                             alive: false, snapshot: nil, serverCommand: nil, problem: nil)
        guard exists else { e.problem = "gone"; return e }
        e.alive = probeAlive(path) ?? false
        do {
            let reader = try SectionReader(service: name)
            let snap = try reader.snapshot()
            e.snapshot = snap
            e.alive = snap.serverAlive
            if !snap.problems.isEmpty { e.problem = snap.problems.joined(separator: "; ") }
            if snap.serverAlive, snap.serverPID > 0 {
                e.serverCommand = snap.ntObjects ? "(NT program)" : ProcessFacts.command(of: snap.serverPID)
            }
        } catch {
            e.problem = error.message
        }
        return e
    }

    /// Whether a server holds the liveness lock of the object at `path` (nil: cannot open it).
    public static func probeAlive(_ path: String) -> Bool? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var held: Int32 = 0
        guard CIPCScope_ofd_probe(fd, &held) == 0 else { return nil }
        return held != 0
    }

    /// Removes the object of `name` unless a server lives.
    ///
    /// Takes the liveness lock itself first (when it may open the object for writing), so no
    /// server can take the section over between the check and the unlink, and checks that
    /// the path still names the object it checked.
    public static func remove(_ name: String) -> RemoveOutcome {
        let path = directory + "/" + ServiceName.filePrefix + name
        var fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        var locked = false
        if fd >= 0 {
            let r = CIPCScope_ofd_trylock(fd)
            if r != 0 { close(fd); return .alive }
            locked = true
        } else {
            let e = errno
            if e == ENOENT { return .missing }
            fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            if fd < 0 {
                if errno == ENOENT { return .missing }
                // Not openable at all (a symlink, a foreign mode): unlinking is still safe only if no one serves it,
                // which cannot be asked; refuse.
                return .failed("cannot open \(path) (\(String(cString: strerror(errno)))): check its owner and mode with ls -l /dev/shm")
            }
        }
        defer {
            if locked { _ = CIPCScope_ofd_unlock(fd) }
            close(fd)
        }
        if !locked {
            var held: Int32 = 0
            if CIPCScope_ofd_probe(fd, &held) != 0 || held != 0 { return .alive }
        }
        var a = stat(), b = stat()
        guard fstat(fd, &a) == 0, lstat(path, &b) == 0 else { return .missing }
        guard a.st_ino == b.st_ino, a.st_dev == b.st_dev else {
            return .failed("\(path) was replaced while checking it: run clean again")
        }
        if unlink(path) != 0 {
            let e = errno
            if e == ENOENT { return .missing }
            return .failed("cannot remove \(path): \(String(cString: strerror(e))) (it belongs to uid \(b.st_uid); /dev/shm only lets the owner remove it)")
        }
        return .removed
    }
}
