/// A validated service name: 1 to 128 characters of `A-Z a-z 0-9 . _ -`,
/// not starting with `.` or `-`.
///
/// The section lives at `/dev/shm/ipcscope.<name>` (`shm_open("/ipcscope.<name>")`).
public struct ServiceName: Hashable, Sendable, CustomStringConvertible {
    /// The name as given.
    public let rawValue: String

    /// Validates `name` before any system call.
    /// - Throws: `IPCError.Code.badName`, saying which character or length is wrong.
    public init(_ name: String) throws(IPCError) {
        let bytes = Array(name.utf8)
        if bytes.isEmpty {
            throw IPCError(.badName, "service name is empty: use 1 to 128 characters of A-Z a-z 0-9 . _ -")
        }
        if bytes.count > 128 {
            throw IPCError(.badName, service: name,
                           "service name is \(bytes.count) bytes long: use at most 128 characters of A-Z a-z 0-9 . _ -")
        }
        for (i, b) in bytes.enumerated() {
            let ok = (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39)
                || b == 0x2e || b == 0x5f || b == 0x2d
            if !ok {
                let shown = name.unicodeScalars.count == bytes.count ? "'\(Character(Unicode.Scalar(b)))'" : "a non-ASCII character"
                throw IPCError(.badName, service: name,
                               "service name '\(name)' has \(shown) at position \(i + 1): use only A-Z a-z 0-9 . _ -")
            }
        }
        if bytes[0] == 0x2e || bytes[0] == 0x2d {
            throw IPCError(.badName, service: name, "service name '\(name)' starts with '\(Character(Unicode.Scalar(bytes[0])))': start it with a letter, digit or '_'")
        }
        rawValue = name
    }

    /// The `shm_open` name, `/ipcscope.<name>`.
    public var objectName: String { "/ipcscope." + rawValue }
    /// The path of the object, `/dev/shm/ipcscope.<name>`.
    public var path: String { "/dev/shm/ipcscope." + rawValue }
    /// The name as given (``rawValue``).
    public var description: String { rawValue }

    /// The prefix of every section's file name in `/dev/shm`.
    public static let filePrefix = "ipcscope."
}
