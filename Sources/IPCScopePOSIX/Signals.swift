#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// Stops on SIGINT and SIGTERM through dispatch sources (no work in a signal handler).
package func installStopSignals(also extra: [Int32] = [], _ stop: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
    let queue = DispatchQueue(label: "ipcscope.signals")
    return ([SIGINT, SIGTERM] + extra).map { sig in
        signal(sig, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        s.setEventHandler { stop() }
        s.resume()
        return s
    }
}

/// Whether this process has a controlling terminal now.
package func hasControllingTerminal() -> Bool {
    let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
    if fd < 0 { return false }
    close(fd)
    return true
}
