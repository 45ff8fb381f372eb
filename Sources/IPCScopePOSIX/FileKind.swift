// What a file is, from the type bits of its `st_mode`, in the words every message uses.

/// The kind of file a `st_mode` names.
package enum FileKind: Equatable, Sendable {
    case regular, fifo, directory, characterDevice, blockDevice, socket, symbolicLink, unknown

    package static let mask: UInt32 = 0o170000

    package init(mode: UInt32) {
        switch mode & FileKind.mask {
        case 0o100000: self = .regular
        case 0o010000: self = .fifo
        case 0o040000: self = .directory
        case 0o020000: self = .characterDevice
        case 0o060000: self = .blockDevice
        case 0o140000: self = .socket
        case 0o120000: self = .symbolicLink
        default: self = .unknown
        }
    }

    /// Its name, as a column of `list` shows it: "regular file", "FIFO", "directory", …
    package var name: String {
        switch self {
        case .regular: "regular file"
        case .fifo: "FIFO"
        case .directory: "directory"
        case .characterDevice: "character device"
        case .blockDevice: "block device"
        case .socket: "socket"
        case .symbolicLink: "symbolic link"
        case .unknown: "unknown file type"
        }
    }

    /// In a sentence, with an article: "a FIFO (named pipe)", "a directory", …
    package var phrase: String {
        switch self {
        case .fifo: "a FIFO (named pipe)"
        case .unknown: "an object of unknown file type"
        default: "a " + name
        }
    }

    /// `phrase` for anything but a regular file; nil for a regular file.
    package var notRegularPhrase: String? { self == .regular ? nil : phrase }

    package static func isRegular(mode: UInt32) -> Bool { FileKind(mode: mode) == .regular }
    package static func isDirectory(mode: UInt32) -> Bool { FileKind(mode: mode) == .directory }
}
