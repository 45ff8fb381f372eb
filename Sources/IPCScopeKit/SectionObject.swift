#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopePOSIX

/// Checks every program that opens `/dev/shm/ipcscope.<name>` needs, in one place: the file
/// under the name may be anything another user planted there (a FIFO, a directory, a section
/// that is still being created, one whose server died, one locked by a reader).
public enum SectionObject {
    /// Opens the object read-only for a reader (`O_RDONLY | O_NOFOLLOW | O_NONBLOCK`) and refuses
    /// anything but a regular file. The caller owns the descriptor.
    /// - Throws: `noSuchService`; `corruptSection` naming what the file is; `system`.
    public static func openReadOnly(_ service: ServiceName) throws(IPCError) -> Int32 {
        try openDescriptor(service, flags: O_RDONLY, mode: 0)
    }

    /// `shm_open` with `O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK` added, then `fstat`: a regular file or an error.
    static func openDescriptor(_ service: ServiceName, flags: Int32, mode: mode_t) throws(IPCError) -> Int32 {
        let fd = service.objectName.withCString { shm_open($0, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode) }
        let remove = "remove it (rm \(service.path)) or pick another name"
        if fd < 0 {
            let e = Glibc.errno
            // glibc's shm_open turns EISDIR into EINVAL: say what the file is when it is not a regular one.
            var st = Glibc.stat()
            if e != ENOENT, lstat(service.path, &st) == 0, let kind = FileKind(mode: UInt32(st.st_mode)).notRegularPhrase {
                throw IPCError(.corruptSection, service: service.rawValue,
                               "\(service.path) is \(kind), not a section: \(remove)", errno: e)
            }
            switch e {
            case ENOENT:
                throw IPCError(.noSuchService, service: service.rawValue,
                               "no service named '\(service)' (\(service.path) does not exist): start its server, or see 'ipcscope list'", errno: e)
            case EACCES:
                throw IPCError(.system, service: service.rawValue,
                               "permission denied opening \(service.path): it belongs to another user or its mode forbids you (ls -l /dev/shm)", errno: e)
            default:
                throw IPCError.system("shm_open(\(service.objectName))", service: service.rawValue, errno: e)
            }
        }
        var st = Glibc.stat()
        if fstat(fd, &st) != 0 {
            let e = Glibc.errno
            _ = Glibc.close(fd)
            throw IPCError.system("fstat", service: service.rawValue, errno: e)
        }
        if let kind = FileKind(mode: UInt32(st.st_mode)).notRegularPhrase {
            _ = Glibc.close(fd)
            throw IPCError(.corruptSection, service: service.rawValue,
                           "\(service.path) is \(kind), not a section: \(remove)")
        }
        return fd
    }

    /// Whether a live server holds the liveness lock: a WRITE lock on byte 0 held by another open
    /// file description (`F_OFD_GETLK`; works through a read-only descriptor). A read lock, which
    /// any reader can take, is not a server.
    public static func serverLockHeld(fd: Int32) -> Bool {
        var held: Int32 = 0
        return CIPCScope_ofd_probe(fd, &held) == 0 && held != 0
    }

    /// Whether another open file description holds only a reader's lock (a read lock) on byte 0:
    /// no server, but the liveness lock cannot be taken while it stays.
    public static func readerLockHeld(fd: Int32) -> Bool {
        var type = Int32(F_UNLCK)
        return CIPCScope_ofd_probe_type(fd, &type) == 0 && type == Int32(F_RDLCK)
    }

    /// Whether the section is being created right now: its creator holds the liveness lock but has
    /// not written `magic` yet (it does so last). Readers should say "starting", not "too short" or
    /// "bad magic", and clients wait a moment.
    public static func isStarting(fd: Int32) -> Bool {
        let magic = preadBytes(fd, at: 0, count: 8)
        return magic != Array("IPCSCOPE".utf8) && serverLockHeld(fd: fd)
    }
}
