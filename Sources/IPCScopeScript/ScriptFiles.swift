#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

/// Why a file a script names (or the script itself) could not be read.
enum RegularFileError: Error, Sendable, Equatable {
    /// `open` or `read` failed with this errno.
    case system(String)
    /// Not a regular file: what it is instead ("a FIFO", "a character device", …).
    case notRegular(String)
    /// Larger than the limit (the size found, or at least `limit + 1`).
    case tooLarge(size: Int, limit: Int)

    /// The problem in words, for a message that names the file first.
    var text: String {
        switch self {
        case .system(let why): "cannot be read (\(why))"
        case .notRegular(let what): "is \(what), not a regular file"
        case .tooLarge(let size, let limit): "is \(byteCount(size)), over the limit of \(byteCount(limit))"
        }
    }
}

/// Reads a regular file of at most `limit` bytes without ever blocking or reading more than
/// `limit + 1` bytes: opened `O_NONBLOCK` (a FIFO cannot hang the open), checked with `fstat`
/// (anything but a regular file is refused, named), and read with a bound (a file that grows
/// after the check is still refused).
func readRegularFile(_ path: String, limit: Int) -> Result<[UInt8], RegularFileError> {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
    if fd < 0 { return .failure(.system(String(cString: strerror(errno)))) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { return .failure(.system(String(cString: strerror(errno)))) }
    let type = st.st_mode & S_IFMT
    guard type == S_IFREG else { return .failure(.notRegular(FileKind(mode: UInt32(type)).phrase)) }
    let size = Int(clamping: st.st_size)
    guard size <= limit else { return .failure(.tooLarge(size: size, limit: limit)) }
    guard let out = readAll(fd: fd, limit: limit) else { return .failure(.system(String(cString: strerror(errno)))) }
    if out.count > limit { return .failure(.tooLarge(size: out.count, limit: limit)) }
    return .success(out)
}

/// `1 MiB`, `2048 bytes`: sizes for messages.
func byteCount(_ n: Int) -> String {
    if n >= 1 << 20, n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
    if n >= 1 << 10, n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
    return "\(n) bytes"
}
