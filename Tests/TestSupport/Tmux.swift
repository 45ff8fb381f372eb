// A real terminal for the tests of `ipcscope attach`: tmux runs it, `send-keys` types,
// `capture-pane -p` reads the screen. Every wait has a deadline; every tmux server is killed.
#if canImport(Glibc)
import Glibc
#endif

/// One tmux server on a private socket running one command in a window of a given size.
public final class TmuxSession {
    public let socket: String
    public let scope: TestScope
    public static let tmux = "/usr/bin/tmux"

    public init(_ scope: TestScope, command: String, width: Int = 120, height: Int = 40) {
        self.scope = scope
        socket = "ipcscope-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let env = "LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color XDG_CONFIG_HOME=\(scope.directory)"
        _ = scope.run(TmuxSession.tmux, ["-L", socket, "-f", "/dev/null", "new-session", "-d", "-x", "\(width)", "-y", "\(height)",
                                         "env \(env) \(command); sleep 30"], timeout: 10)
    }

    deinit { kill() }

    /// The screen as text.
    public func capture() -> String {
        scope.run(TmuxSession.tmux, ["-L", socket, "capture-pane", "-p"], timeout: 5).stdout
    }

    /// Waits until the screen contains every one of `needles`; returns the last screen.
    @discardableResult
    public func waitFor(_ needles: String..., timeout: Double = 10) -> (Bool, String) {
        var screen = ""
        let ok = waitUntil(timeout: timeout, interval: 0.05) {
            screen = capture()
            return needles.allSatisfy(screen.contains)
        }
        return (ok, screen)
    }

    /// Sends tmux key names (`Tab`, `Enter`, `Up`, …).
    public func keys(_ names: String...) { _ = scope.run(TmuxSession.tmux, ["-L", socket, "send-keys"] + names, timeout: 5) }

    /// Types `text` literally.
    public func type(_ text: String) { _ = scope.run(TmuxSession.tmux, ["-L", socket, "send-keys", "-l", text], timeout: 5) }

    public func resize(width: Int, height: Int) {
        _ = scope.run(TmuxSession.tmux, ["-L", socket, "resize-window", "-x", "\(width)", "-y", "\(height)"], timeout: 5)
    }

    public func kill() { _ = scope.run(TmuxSession.tmux, ["-L", socket, "kill-server"], timeout: 5) }
}

/// The line of `screen` that follows the first line containing `marker`.
public func lineAfter(_ marker: String, in screen: String) -> String {
    let lines = screen.split(separator: "\n", omittingEmptySubsequences: false)
    guard let i = lines.firstIndex(where: { $0.contains(marker) }), i + 1 < lines.count else { return "" }
    return String(lines[i + 1])
}
