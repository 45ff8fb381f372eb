#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopePOSIX

// MARK: - creation and takeover

/// How a server gets its section: a fresh object (`O_EXCL`), or the takeover of a dead server's,
/// with every check a hostile object calls for (owner, size, mutex bytes, dead lock owners).
extension Server {
    /// Fills a new section; `magic` last, with a release store. C: `initialise`.
    static func initialise(_ base: UnsafeMutableRawPointer, _ layout: SectionLayout, _ service: ServiceName) throws(IPCError) {
        let v = SectionView(base)
        v.setPlain(Int(IPCSCOPE_OFF_VERSION), UInt32(IPCSCOPE_VERSION))
        v.setPlain(Int(IPCSCOPE_OFF_HEADER_SIZE), UInt32(IPCSCOPE_HEADER_SIZE))
        v.setPlain(Int(IPCSCOPE_OFF_SECTION_SIZE), UInt64(layout.sectionSize))
        v.setPlain(Int(IPCSCOPE_OFF_REQUEST_OFFSET), UInt32(layout.requestOffset))
        v.setPlain(Int(IPCSCOPE_OFF_REQUEST_CAPACITY), UInt32(layout.requestCapacity))
        v.setPlain(Int(IPCSCOPE_OFF_RESPONSE_OFFSET), UInt32(layout.responseOffset))
        v.setPlain(Int(IPCSCOPE_OFF_RESPONSE_CAPACITY), UInt32(layout.responseCapacity))
        v.setPlain(Int(IPCSCOPE_OFF_TRACE_OFFSET), UInt32(layout.traceOffset))
        v.setPlain(Int(IPCSCOPE_OFF_TRACE_CAPACITY), UInt32(layout.traceCapacity))
        v.setPlain(Int(IPCSCOPE_OFF_MUTEX_OFFSET), UInt32(IPCSCOPE_MUTEX_OFFSET))
        v.setPlain(Int(IPCSCOPE_OFF_CREATOR_UID), UInt32(geteuid()))
        v.setPlain(Int(IPCSCOPE_OFF_CREATED_UNIX_NS), realtimeNanoseconds())
        let r = CIPCScope_mutex_init(v.mutex)
        if r != 0 { throw IPCError.system("pthread_mutex_init", service: service.rawValue, errno: r) }
        v.setState(UInt32(IPCSCOPE_STATE_IDLE), now: monotonicNanoseconds())
        let magic = Array("IPCSCOPE".utf8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        v.store64(Int(IPCSCOPE_OFF_MAGIC), magic)
    }

    /// Checks an existing object before a takeover; throws the problem. C: `check_existing`.
    ///
    /// Returns false when the object was removed to be created afresh (a reader's read lock stands
    /// where the server's lock should be): try again. A `corruptSection` or `incompatibleSection`
    /// is thrown for the caller to replace (`replaceInvalid`) or to report.
    static func checkExisting(_ file: SectionFile, _ service: ServiceName, _ layout: SectionLayout,
                              lastAttempt: Bool) throws(IPCError) -> Bool {
        let st = try file.stat()
        let me = geteuid()
        // Never take over, unlock or map writable an object this uid does not own, root included:
        // its owner can rewrite it under us (glibc writes through the mutex's pointers).
        if st.st_uid != me {
            throw IPCError(.foreignOwner, service: service.rawValue,
                           "\(service.path) belongs to \(userName(st.st_uid)), not to you (uid \(me)): a server only takes over its own sections; pick another name, or ask its owner to remove it", pid: nil)
        }
        // A live server holds the liveness lock (a write lock).
        if CIPCScope_ofd_trylock(file.fd) != 0 {
            if SectionObject.readerLockHeld(fd: file.fd) {
                // A reader's read lock is not a server: the object is ours and serverless, but the
                // lock cannot be taken while the read lock stays. Recreate it.
                _ = try recreate(file, service, lastAttempt: lastAttempt,
                                 "\(service.path) is held by a read lock (not a server's): remove it with 'ipcscope clean \(service)'")
                return false
            }
            if SectionObject.isStarting(fd: file.fd) {
                throw IPCError(.nameInUse, service: service.rawValue,
                               "service '\(service)' is being started by another process: pick another name or stop it")
            }
            let header = file.read(at: 0, count: 128)
            var pid: Int32 = 0
            if header.count >= 68 { pid = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 64, as: Int32.self) } }
            let who = pid > 0 ? "pid \(pid)" + (ProcessFacts.command(of: pid).map { " (\($0))" } ?? "") : "another process"
            throw IPCError(.nameInUse, service: service.rawValue,
                           "service '\(service)' is served by \(who), still running: pick another name or stop it", pid: pid)
        }
        // Dead server (or never a section): validate before taking it over. The size checked is
        // the object's real one (fstat, under the lock), so the mapping that follows is all backed.
        let objectSize = Int(try file.stat().st_size)
        guard let identity = SectionIdentity(bytes: file.read(at: 0, count: 64)) else {
            throw IPCError(.corruptSection, service: service.rawValue,
                           "\(service.path) is \(objectSize) bytes, too short to be a section: remove it with 'ipcscope clean \(service)' or start with --replace")
        }
        let existing = try identity.validate(objectSize: objectSize, service: service.rawValue)
        if existing != layout {
            throw IPCError(.incompatibleSection, service: service.rawValue,
                           "section '\(service)' exists with capacities \(existing.requestCapacity)/\(existing.responseCapacity)/\(existing.traceCapacity), not the \(layout.requestCapacity)/\(layout.responseCapacity)/\(layout.traceCapacity) asked for: start with the same sizes, or pass --replace")
        }
        if identity.creatorUID != me {
            throw IPCError(.foreignOwner, service: service.rawValue,
                           "section '\(service)' was created by \(userName(identity.creatorUID)), not by you (uid \(me)): a server only takes over its own sections; pick another name, or remove it (rm \(service.path))")
        }
        return true
    }

    /// One attempt: the section and whether it was taken over; nil means "raced with another
    /// process, try again". C: `create_or_take_over`.
    static func createOrTakeOver(_ service: ServiceName, _ layout: SectionLayout, _ options: ServerOptions,
                                 lastAttempt: Bool) throws(IPCError) -> (SectionFile, Bool)? {
        // Fresh object: O_CREAT | O_EXCL | O_NOFOLLOW.
        do throws(IPCError) {
            let file = try SectionFile.open(service, flags: O_RDWR | O_CREAT | O_EXCL, mode: options.mode)
            // fchmod: the umask must not narrow the mode the caller asked for.
            _ = fchmod(file.fd, options.mode)
            let lockResult = CIPCScope_ofd_trylock(file.fd)
            // Between O_EXCL and the lock the object is empty and unlocked: a cleaner may have
            // removed it (it takes the lock before unlinking), or locked it to do so. Once we
            // hold the lock and the name still points at our object, nobody else can remove it.
            if lockResult != 0 || !SectionFile.pathNames(file, service) {
                if lockResult != 0 && lastAttempt {
                    throw IPCError.system("fcntl(F_OFD_SETLK)", service: service.rawValue, errno: lockResult)
                }
                return nil
            }
            if ftruncate(file.fd, off_t(layout.sectionSize)) != 0 {
                let e = Glibc.errno
                _ = shm_unlink(service.objectName)
                throw IPCError.system("ftruncate(\(layout.sectionSize))", service: service.rawValue, errno: e)
            }
            let base = try file.map(size: layout.sectionSize)
            try initialise(base, layout, service)
            return (file, false)
        } catch {
            guard error.errno == EEXIST else { throw error }  // else: fall through to the existing object
        }

        let file: SectionFile
        do throws(IPCError) {
            file = try SectionFile.open(service, flags: O_RDWR)
        } catch {
            guard error.code == .noSuchService else { throw error }
            return nil  // it vanished between the two opens: try again
        }
        do throws(IPCError) {
            guard try checkExisting(file, service, layout, lastAttempt: lastAttempt) else { return nil }
        } catch {
            // Not a valid section of this shape: with `replaceInvalid`, removed and created afresh.
            let invalid = error.code == .corruptSection || error.code == .incompatibleSection
            guard options.replaceInvalid, invalid, !lastAttempt else { throw error }
            _ = unlinkIfStillNamed(file, service)
            return nil
        }
        // The mode asked for applies on takeover too (a previous server may have used another).
        if fchmod(file.fd, options.mode) != 0 {
            throw IPCError.system("fchmod(\(octal(options.mode)))", service: service.rawValue, errno: Glibc.errno)
        }
        let base = try file.map(size: layout.sectionSize)
        let view = SectionView(base)
        // The mutex's bytes first: a mutated type word would send glibc down paths that abort.
        if CIPCScope_mutex_check(view.mutex, nil, nil) != 0 {
            return try recreate(file, service, lastAttempt: lastAttempt,
                                "the mutex of section '\(service)' is corrupt: remove it with 'ipcscope clean \(service)'")
        }
        // Repair the mutex if a client died holding it; recreate if it cannot be repaired.
        switch CIPCScope_mutex_trylock(view.mutex) {
        case 0:
            // We hold the mutex, so no client waits on response_event: any count is a leak.
            view.store32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 0)
            _ = CIPCScope_mutex_unlock(view.mutex)
        case EOWNERDEAD:
            _ = CIPCScope_mutex_consistent(view.mutex)
            view.add64(Int(IPCSCOPE_OFF_RECOVERED_COUNT), 1)
            view.store32(Int(IPCSCOPE_OFF_OWNER_PID), 0)
            view.store32(Int(IPCSCOPE_OFF_OWNER_TID), 0)
            view.store32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 0)
            _ = CIPCScope_mutex_unlock(view.mutex)
        case ENOTRECOVERABLE:
            return try recreate(file, service, lastAttempt: lastAttempt,
                                "the mutex of section '\(service)' is not recoverable: remove it with 'ipcscope clean \(service)'")
        default:
            // EBUSY: a live client holds it and will finish or time out, unless the thread in the
            // kernel word no longer exists (its robust list was corrupt, or the word was forged):
            // then nobody will ever release it.
            let tid = CIPCScope_mutex_owner_tid(view.mutex)
            if tid > 0 && !ProcessFacts.threadAlive(tid) {
                return try recreate(file, service, lastAttempt: lastAttempt,
                                    "the mutex of section '\(service)' is held by thread \(tid), which no longer exists: remove it with 'ipcscope clean \(service)'")
            }
        }
        return (file, true)
    }

    /// Unlinks the object so that the next attempt creates it afresh; on the last attempt throws
    /// `mutexUnrecoverable` with `message` instead.
    static func recreate(_ file: SectionFile, _ service: ServiceName, lastAttempt: Bool,
                         _ message: String) throws(IPCError) -> (SectionFile, Bool)? {
        if lastAttempt { throw IPCError(.mutexUnrecoverable, service: service.rawValue, message) }
        _ = unlinkIfStillNamed(file, service)
        return nil
    }

    /// Unlinks the name only if it still names `file`'s object (never a successor's).
    static func unlinkIfStillNamed(_ file: SectionFile, _ service: ServiceName) -> Bool {
        guard SectionFile.pathNames(file, service) else { return false }
        return shm_unlink(service.objectName) == 0
    }
}
