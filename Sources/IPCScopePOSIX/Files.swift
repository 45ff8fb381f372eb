// Whole-file and whole-buffer I/O on descriptors, over swift-system's FileDescriptor (which
// retries EINTR), so no module writes its own read/write loop.
#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Reads everything from `fd` until end of file; nil on a read error.
package func readAll(fd: Int32) -> [UInt8]? {
    readAll(fd: fd, limit: Int.max)
}

/// Reads from `fd` until end of file or until more than `limit` bytes were read (then the bytes
/// read so far, `limit + 1` or more, so the caller can tell the file was too large); nil on a read error.
package func readAll(fd: Int32, limit: Int) -> [UInt8]? {
    let descriptor = FileDescriptor(rawValue: fd)
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while out.count <= limit {
        let room = min(chunk.count, limit == Int.max ? chunk.count : limit + 1 - out.count)
        guard let n = try? chunk.withUnsafeMutableBytes({ try descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<room])) })
        else { return nil }
        if n == 0 { break }
        out += chunk[0..<n]
    }
    return out
}

/// Reads a whole file (a script, a report, a `/proc` entry); nil when it cannot be opened or read.
package func readFileContents(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { return nil }
    defer { close(fd) }
    return readAll(fd: fd)
}

/// Reads a whole file as UTF-8 text; nil when it cannot be opened or read.
package func readTextFile(_ path: String) -> String? {
    readFileContents(path).map { String(decoding: $0, as: UTF8.self) }
}

/// Writes all of `bytes` to `fd`; the errno value on failure (0 written counts as `EIO`).
@discardableResult
package func writeAll(_ bytes: some Collection<UInt8>, to fd: Int32) -> Errno? {
    do {
        let n = try FileDescriptor(rawValue: fd).writeAll(bytes)
        return n == bytes.count ? nil : .ioError
    } catch let error as Errno {
        return error
    } catch {
        return .ioError
    }
}

/// Writes all of `text`'s UTF-8 bytes to `fd`; the errno value on failure.
@discardableResult
package func writeAll(_ text: String, to fd: Int32) -> Errno? {
    writeAll(text.utf8, to: fd)
}

/// Writes `text` to `path` atomically: a temporary file beside it, renamed over it.
package func writeFileAtomically(_ path: String, _ text: String) -> Bool {
    let tmp = path + ".tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    if fd < 0 { return false }
    let failed = writeAll(text, to: fd)
    close(fd)
    return failed == nil && rename(tmp, path) == 0
}

/// Up to `count` bytes at `offset` of `fd` with `pread`; fewer at the end of the object, none on
/// error. Never maps, so a truncated object cannot raise SIGBUS. `offset` and `count` may come from
/// a section: a negative or overflowing range reads nothing, and a count over 1 MiB is first cut to
/// what the object holds.
package func preadBytes(_ fd: Int32, at offset: Int, count: Int) -> [UInt8] {
    guard count > 0, fd >= 0, offset >= 0, !offset.addingReportingOverflow(count).overflow else { return [] }
    var count = count
    if count > 1 << 20 {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > offset else { return [] }
        count = min(count, Int(st.st_size) - offset)
    }
    let descriptor = FileDescriptor(rawValue: fd)
    var out = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
        let n = (try? out.withUnsafeMutableBytes {
            try descriptor.read(fromAbsoluteOffset: Int64(offset + done), into: UnsafeMutableRawBufferPointer(rebasing: $0[done...]))
        }) ?? 0
        if n <= 0 { break }
        done += n
    }
    out.removeLast(count - done)
    return out
}

/// The process's working directory (`getcwd`), or "." when it cannot be read.
package func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return "." }
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

/// `strerror` of an errno value, as text.
package func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
