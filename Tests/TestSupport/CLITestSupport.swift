// Small helpers for the tests that run the CLI: JSON parsing of the binary's output, scripted servers.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Parses one JSON object.
public func jsonObject(_ text: String) -> [String: Any]? {
    guard let data = text.trimmingCharacters(in: .whitespacesAndNewlines).data(using: .utf8),
          let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
    return o
}

/// Parses JSON Lines; every non-empty line must be an object.
public func jsonLines(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { jsonObject(String($0)) }
}

public func int(_ v: Any?) -> Int? { (v as? NSNumber)?.intValue }

extension TestScope {
    /// Starts `ipcscope serve NAME --script FILE` (plus `extra`) and waits until it serves.
    public func startScriptedServer(_ name: String, script: String, extra: [String] = [], stdinPath: String = "/dev/null") -> ChildProcess {
        let path = file("script-\(name).yaml", script)
        let s = spawn(ipcscopePath, ["serve", name, "--script", path] + extra, stdinPath: stdinPath)
        _ = s.waitForOutput("serving", timeout: 10) || s.waitForOutput("took over", timeout: 1)
        return s
    }

    /// `ipcscope call NAME ... --json`: the parsed object and the process.
    public func callJSON(_ name: String, _ args: [String], timeout: Double = 15) -> ([String: Any]?, ChildProcess) {
        let c = ipcscope(["call", name, "--json"] + args, timeout: timeout)
        return (jsonObject(c.stdout), c)
    }
}

/// Writes bytes to a file.
public func writeBytes(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    bytes.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

/// Reads a file's bytes.
public func readBytes(_ path: String) -> [UInt8] {
    guard let d = FileManager.default.contents(atPath: path) else { return [] }
    return [UInt8](d)
}
