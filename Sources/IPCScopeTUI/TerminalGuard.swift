#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Puts the terminal back the way it was when attach dies by a fatal signal (SIGSEGV, SIGBUS,
/// SIGILL and SIGTRAP: Swift's own traps, SIGABRT, SIGFPE) or exits from another thread (a
/// script's `fault: exit` in `attach --serve`), so the shell is never left without echo.
///
/// `arm()` saves the terminal modes before curses changes them; the handlers then do only what
/// is async-signal-safe: `tcsetattr` with the saved modes and one `write` of the escape
/// sequences that leave the alternate screen and show the cursor again. Then the signal takes
/// its default action (the process dies as it would have, core dump included).
enum TerminalGuard {
    /// The fatal signals handled.
    static let fatalSignals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE, SIGSYS]

    /// Saves the terminal modes of stdin and installs the handlers (idempotent).
    static func arm() {
        guard tcgetattr(0, &savedModes) == 0 else { return }
        if !installed {
            installed = true
            // An alternate stack, so a stack overflow (SIGSEGV) can still be handled.
            let size = 64 * 1024
            var stack = stack_t()
            stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            stack.ss_size = size
            stack.ss_flags = 0
            sigaltstack(&stack, nil)
            for sig in fatalSignals {
                var action = sigaction()
                action.__sigaction_handler.sa_handler = { sig in
                    TerminalGuard.restoreNow()
                    // SA_RESETHAND put the default action back: re-raise (a fault re-raises by itself
                    // when the instruction runs again).
                    raise(sig)
                }
                action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND) | UInt32(SA_NODEFER) | UInt32(SA_ONSTACK))
                sigemptyset(&action.sa_mask)
                sigaction(sig, &action, nil)
            }
        }
        active.store(true, ordering: .sequentiallyConsistent)
    }

    /// The terminal was restored normally (curses `endwin`): nothing left to do.
    static func disarm() { active.store(false, ordering: .sequentiallyConsistent) }

    /// Restores the saved modes now if curses still owns the terminal. Async-signal-safe.
    static func restoreNow() {
        guard active.exchange(false, ordering: .sequentiallyConsistent) else { return }
        _ = tcsetattr(0, TCSANOW, &savedModes)
        // Leave the alternate screen, reset attributes, show the cursor, start a fresh line.
        let reset: StaticString = "\u{1b}[?1049l\u{1b}[0m\u{1b}[?25h\r\n"
        _ = write(1, reset.utf8Start, reset.utf8CodeUnitCount)
    }

    nonisolated(unsafe) private static var savedModes = termios()
    nonisolated(unsafe) private static var installed = false
    private static let active = Atomic<Bool>(false)
}
