#if canImport(Glibc)
import Glibc
#endif
import CIPCScopePOSIX

/// Asks the kernel to send this process `SIGTERM` when its parent dies, however it dies
/// (`PR_SET_PDEATHSIG`), then checks the parent is still `parent`: false means it died before
/// the request took effect, and the caller should end at once.
package func endWithParent(_ parent: pid_t) -> Bool {
    _ = CIPCScopePOSIX_set_parent_death_signal(SIGTERM)
    return getppid() == parent
}
