#if canImport(Glibc)
import Glibc
#endif

/// Reads everything from `fd` until end of file (retrying EINTR); nil on a read error.
public func readAll(fd: Int32) -> [UInt8]? {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return nil }
        if n == 0 { return out }
        out += buf[0..<n]
    }
}

/// Reads a whole file (a script, a report, a `/proc` entry); nil when it cannot be opened or read.
public func readFileContents(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { return nil }
    defer { close(fd) }
    return readAll(fd: fd)
}

/// Reads a whole file as UTF-8 text; nil when it cannot be opened or read.
public func readTextFile(_ path: String) -> String? {
    readFileContents(path).map { String(decoding: $0, as: UTF8.self) }
}

/// The process's working directory (`getcwd`), or "." when it cannot be read.
public func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return "." }
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
