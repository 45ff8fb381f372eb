import ArgumentParser
import IPCScopeDemo
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeSchema
#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

/// The demo's schema (put and get as C structs) where other processes can read it: a file in
/// the demo's own folder, or, when the user asks (`--install-schema`), the conventional
/// `$XDG_CONFIG_HOME/ipcscope/schemas/NAME.yaml`, so every verb finds it without `--schema`.
/// Whatever the demo wrote it removes when it stops.
struct DemoSchemaFile {
    /// Where the schema is.
    let path: String
    /// Whether the demo wrote it (and removes it at the end).
    private let created: Bool
    /// The folder the demo made for it, removed with it.
    private let folder: String?

    /// The schema parsed: what the demo's own inspector decodes with.
    static func parsed() -> Schema? {
        try? Schema.parse(yaml: demoSchemaYAML, source: "the demo's schema (ipcscope demo --print-schema)")
    }

    /// Writes the schema into a new private folder, `/tmp/ipcscope-demo-<pid>-XXXXXX/demo.yaml`.
    static func temporary() -> DemoSchemaFile? {
        let dir = makeTemporaryDirectory()
        guard dir != "/tmp" else { return nil }
        let path = dir + "/demo.yaml"
        guard writeFileAtomically(path, demoSchemaYAML) else {
            removeTemporaryDirectory(dir)
            return nil
        }
        return DemoSchemaFile(path: path, created: true, folder: dir)
    }

    /// Installs the schema at the conventional path of `service` for the run. A file already
    /// there with the same text is used as it is (and left at the end); another file is not
    /// overwritten: the demo refuses to start.
    static func install(service: String) throws -> DemoSchemaFile {
        guard let path = Schema.conventionalPath(service: service) else {
            printError("--install-schema: no config folder for '\(service)' (XDG_CONFIG_HOME and HOME are unset): set one of them")
            throw ExitCode(1)
        }
        if access(path, F_OK) == 0 {
            guard readTextFile(path) == demoSchemaYAML else {
                printError("--install-schema: \(path) exists and is not the demo's schema: remove it, or pick another --name")
                throw ExitCode(1)
            }
            return DemoSchemaFile(path: path, created: false, folder: nil)
        }
        let dir = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        guard makeDirectories(dir), writeFileAtomically(path, demoSchemaYAML) else {
            printError("--install-schema: cannot write \(path) (\(String(cString: strerror(errno)))): check the folder's permissions")
            throw ExitCode(1)
        }
        return DemoSchemaFile(path: path, created: true, folder: nil)
    }

    /// Removes what the demo wrote.
    func remove() {
        guard created else { return }
        if let folder {
            removeTemporaryDirectory(folder)
        } else if readTextFile(path) == demoSchemaYAML {
            unlink(path)
        }
    }
}

/// `mkdir -p`, mode 0755 for the folders it makes; true when `path` is a folder at the end.
private func makeDirectories(_ path: String) -> Bool {
    var built = ""
    for part in path.split(separator: "/") {
        built += "/" + part
        if mkdir(built, 0o755) != 0 && errno != EEXIST { return false }
    }
    var st = stat()
    return stat(path, &st) == 0 && FileKind.isDirectory(mode: st.st_mode)
}
