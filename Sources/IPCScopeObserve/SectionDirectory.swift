#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopePOSIX

/// What an `ipcscope.*` entry of /dev/shm is, as far as this user can tell.
package enum EntryCondition: String, Sendable, Equatable {
    /// A server holds the liveness lock and the header is written.
    case live
    /// No server holds the lock: left over ('ipcscope clean' removes it).
    case stale
    /// Its creator holds the lock (or it appeared moments ago) but has not written the header yet.
    case starting
    /// The name after `ipcscope.` is not a service name (shown escaped).
    case invalidName = "invalid name"
    /// A FIFO, directory, socket, device or symlink: not a section at all.
    case notRegular = "not a regular file"
    /// Another user's object this user may not read: cannot be judged from here.
    case unreadable
    /// Gone while it was being looked at.
    case gone
}

/// One `ipcscope.*` object in /dev/shm, as `ipcscope list` shows it.
package struct SectionEntry: Sendable {
    /// The name's raw bytes after `ipcscope.`, exactly as the directory holds them.
    package var rawName: DirectoryName
    /// The service part of the file name, escaped for a terminal (the name itself when valid).
    package var name: String
    /// `/dev/shm/ipcscope.<name>`, escaped like `name`.
    package var path: String
    /// Size, owner and mode from `lstat`.
    package var objectSize: Int
    package var ownerUID: UInt32
    package var mode: UInt32
    /// What `lstat` says the file is ("regular file", "FIFO", …).
    package var fileKind: String
    /// What the entry is (live, stale, starting, unreadable, …).
    package var condition: EntryCondition
    /// Whether a server holds the liveness lock.
    package var alive: Bool
    /// The decoded section, when the name is valid and the object could be read.
    package var snapshot: Snapshot?
    /// The server's command (`/proc/<pid>/comm`), only while it is alive.
    package var serverCommand: String?
    /// Why the object is not a usable section (bad name, unreadable, invalid), if it is not.
    package var problem: String?

    /// No server holds the lock and the object could be judged: the section is left over.
    package var stale: Bool { condition == .stale }
    /// A valid section of this format version.
    package var valid: Bool { problem == nil && (snapshot?.isValid ?? false) }
    /// Whether the name is a valid service name (commands can be given it).
    package var validName: Bool { condition != .invalidName }
}

/// What `SectionDirectory.remove` did.
package enum RemoveOutcome: Sendable, Equatable {
    case removed
    /// A server holds the liveness lock: never removed.
    case alive
    /// No server, but another process holds a read lock on byte 0 (a reader's), so the
    /// liveness lock cannot be taken before unlinking: not removed. `pid` is the holder the
    /// kernel names (a classic POSIX lock); nil for an open-file-description lock, whose
    /// holder the kernel does not name.
    case readerLocked(pid: Int32?)
    /// The object was gone already.
    case missing
    /// The object could not be removed; the message says why and what to do.
    case failed(String)
}

/// Finds, inspects and removes section objects in /dev/shm. Inspection is read-only and never
/// blocks (`O_RDONLY | O_NONBLOCK | O_NOFOLLOW`, `pread`, `F_OFD_GETLK`); names are kept as raw
/// bytes and shown escaped, since anyone may create anything in /dev/shm.
package enum SectionDirectory {
    /// Where POSIX shared-memory objects appear.
    package static let directory = "/dev/shm"
    /// An empty object younger than this is taken for one being created.
    package static let startingGraceNS: UInt64 = 2_000_000_000

    /// The raw names after `ipcscope.` of every `/dev/shm/ipcscope.*` entry, sorted.
    package static func listing() -> [DirectoryName] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        let prefix = Array(ServiceName.filePrefix.utf8)
        var out: [DirectoryName] = []
        while let ent = readdir(dir) {
            let bytes = withUnsafeBytes(of: ent.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if bytes.count > prefix.count, bytes.starts(with: prefix) {
                out.append(DirectoryName(Array(bytes.dropFirst(prefix.count))))
            }
        }
        return out.sorted()
    }

    /// The valid service names among `listing()`.
    package static func names() -> [String] {
        listing().filter(\.isServiceName).map { String(decoding: $0.bytes, as: UTF8.self) }
    }

    /// Inspects one object by service name (read-only).
    package static func entry(_ name: String) -> SectionEntry { entry(DirectoryName(Array(name.utf8))) }

    /// Inspects one object (read-only, never blocking).
    package static func entry(_ raw: DirectoryName) -> SectionEntry {
        let shown = raw.escaped
        var st = stat()
        let exists = raw.cPath.withUnsafeBufferPointer { lstat($0.baseAddress!, &st) } == 0
        var e = SectionEntry(rawName: raw, name: shown, path: directory + "/" + ServiceName.filePrefix + shown,
                             objectSize: exists ? Int(st.st_size) : 0, ownerUID: exists ? st.st_uid : 0,
                             mode: exists ? st.st_mode & 0o7777 : 0, fileKind: exists ? FileKind(mode: st.st_mode).name : "-",
                             condition: .gone, alive: false, snapshot: nil, serverCommand: nil, problem: nil)
        guard exists else { e.problem = "gone"; return e }
        guard raw.isServiceName else {
            e.condition = .invalidName
            e.problem = "invalid service name (shown escaped): not made by ipcscope; check who made it (ls -l /dev/shm)"
            return e
        }
        guard e.fileKind == "regular file" else {
            e.condition = .notRegular
            e.problem = "not a regular file (\(e.fileKind)): not a section; remove it with 'ipcscope clean \(shown)'"
            return e
        }
        do {
            let reader = try SectionReader(service: shown)
            judge(&e, try reader.snapshot(), justCreated: justCreated(st))
        } catch {
            switch error.code {
            case .foreignOwner:
                e.condition = .unreadable
                e.problem = "not readable by you (owner \(Units.user(e.ownerUID)), mode \(Units.mode(e.mode)))"
            case .noSuchService:
                e.condition = .gone
                e.problem = "gone"
            case .corruptSection:
                e.condition = .notRegular
                e.problem = error.message
            default:
                e.condition = .unreadable
                e.problem = error.message
            }
        }
        return e
    }

    /// Whether the object changed in the last `startingGraceNS` (a server may be creating it).
    /// Fills in what a readable entry is from its snapshot (live, stale, starting; the server's
    /// command from `facts`). `justCreated`: the object changed within `startingGraceNS`.
    package static func judge(_ e: inout SectionEntry, _ snap: Snapshot, justCreated: Bool, facts: HostFacts = .local) {
        e.snapshot = snap
        e.alive = snap.serverAlive
        e.objectSize = snap.objectSize
        if !snap.problems.isEmpty { e.problem = snap.problems.joined(separator: "; ") }
        // A server creates the object empty and takes the lock right away: an empty object of
        // the last moments may be one whose creator has not locked it yet.
        if snap.starting || (!snap.serverAlive && snap.objectSize == 0 && justCreated) {
            e.condition = .starting
            e.problem = "starting: its server is creating it (header not written yet)"
        } else {
            e.condition = snap.serverAlive ? .live : .stale
        }
        if snap.serverAlive, snap.serverPID > 0 {
            // The whole command line (every server is `ipcscope` or a C program by name alone),
            // and only while the pid still names the process that created the section.
            e.serverCommand = !facts.judgesPids(of: snap) ? "(NT program)"
                : PidIdentity.server(pid: snap.serverPID, recordedStart: snap.serverStartTime, startTime: facts.startTime) == .same
                    ? facts.commandLine(snap.serverPID).map(escapeForTerminal) : "(pid reused)"
        }
    }

    static func justCreated(_ st: stat) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let changed = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        let nowNS = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        return nowNS >= changed && nowNS - changed < Int64(startingGraceNS)
    }

    /// Whether a server holds the liveness lock of the object at `path` (nil: cannot open it, or
    /// it is not a regular file).
    package static func probeAlive(_ path: String) -> Bool? {
        guard let fd = try? openObjectReadOnly(path: path, service: path) else { return nil }
        defer { close(fd) }
        var held: Int32 = 0
        guard CIPCScope_ofd_probe(fd, &held) == 0 else { return nil }
        return held != 0
    }

    /// When the lock another open file description holds on byte 0 is a read lock (a reader's,
    /// not a server's): `.some(pid)` with the pid the kernel names, `.some(nil)` when it names
    /// none (open-file-description locks report -1). nil when it is a write lock, or none.
    static func readLockHolder(_ fd: Int32) -> Int32?? {
        var type = Int32(F_UNLCK), pid: Int32 = 0
        guard CIPCScope_ofd_probe_owner(fd, &type, &pid) == 0, type == Int32(F_RDLCK) else { return nil }
        return .some(pid > 0 ? pid : nil)
    }

    /// Removes the object of `name` unless a server lives.
    ///
    /// Takes the liveness lock itself first (when it may open the object for writing), so no
    /// server can take the section over between the check and the unlink, and checks that
    /// the path still names the object it checked. Opens without blocking and without
    /// following links; a FIFO, directory, socket or device is unlinked without being opened
    /// (callers only ask for that when the user named it).
    package static func remove(_ name: String) -> RemoveOutcome { remove(DirectoryName(Array(name.utf8))) }

    /// `remove` for a raw directory name.
    package static func remove(_ raw: DirectoryName) -> RemoveOutcome {
        let cPath = raw.cPath
        let shown = directory + "/" + ServiceName.filePrefix + raw.escaped
        func lstatNow(_ st: inout stat) -> Bool { cPath.withUnsafeBufferPointer { lstat($0.baseAddress!, &st) } == 0 }
        func unlinkNow() -> Int32 { cPath.withUnsafeBufferPointer { unlink($0.baseAddress!) } }
        func unlinkFailure(_ e: Int32, _ uid: UInt32) -> RemoveOutcome {
            if e == ENOENT { return .missing }
            if e == EISDIR || e == ENOTEMPTY { return .failed("cannot remove \(shown): it is a directory; remove it with rmdir or rm -r") }
            return .failed("cannot remove \(shown): \(String(cString: strerror(e))) (it belongs to uid \(uid); /dev/shm only lets the owner remove it)")
        }
        var first = stat()
        guard lstatNow(&first) else { return .missing }
        if !FileKind.isRegular(mode: first.st_mode) {
            // Not a section: nothing can serve it, so nothing to lock. A directory needs rmdir.
            let r = FileKind.isDirectory(mode: first.st_mode) ? cPath.withUnsafeBufferPointer { rmdir($0.baseAddress!) } : unlinkNow()
            return r == 0 ? .removed : unlinkFailure(errno, first.st_uid)
        }
        let flags = O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC
        var fd = cPath.withUnsafeBufferPointer { open($0.baseAddress!, O_RDWR | flags) }
        var locked = false
        if fd >= 0 {
            let r = CIPCScope_ofd_trylock(fd)
            if r != 0 {
                // Only a write lock is a server (amendment 2, item 1): say what blocks us.
                let blocker = readLockHolder(fd)
                close(fd)
                return blocker.map { .readerLocked(pid: $0) } ?? .alive
            }
            locked = true
        } else {
            if errno == ENOENT { return .missing }
            fd = cPath.withUnsafeBufferPointer { open($0.baseAddress!, O_RDONLY | flags) }
            if fd < 0 {
                if errno == ENOENT { return .missing }
                // Not openable at all (a foreign mode): unlinking is still safe only if no one serves it,
                // which cannot be asked; refuse.
                return .failed("cannot open \(shown) (\(String(cString: strerror(errno)))): it is not readable by you, so clean cannot tell whether it is served; ask its owner (ls -l /dev/shm)")
            }
        }
        defer {
            if locked { _ = CIPCScope_ofd_unlock(fd) }
            close(fd)
        }
        var a = stat(), b = stat()
        guard fstat(fd, &a) == 0, lstatNow(&b) else { return .missing }
        guard a.st_ino == b.st_ino, a.st_dev == b.st_dev, FileKind.isRegular(mode: a.st_mode) else {
            return .failed("\(shown) was replaced while checking it: run clean again")
        }
        if !locked {
            var held: Int32 = 0
            if CIPCScope_ofd_probe(fd, &held) != 0 || held != 0 { return .alive }
        }
        if unlinkNow() != 0 { return unlinkFailure(errno, b.st_uid) }
        return .removed
    }
}
