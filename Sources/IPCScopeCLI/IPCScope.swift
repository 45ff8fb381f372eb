import ArgumentParser
import CIPCScope

/// `ipcscope`: build, watch and debug shared-memory IPC.
@main
struct IPCScope: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipcscope",
        abstract: "Build, watch and debug shared-memory IPC services.",
        discussion: """
            A service is a named shared-memory section (/dev/shm/ipcscope.NAME) with one request \
            slot, one response slot, two futex events and a robust mutex. See docs/section-format.md.

            Examples:
              ipcscope serve MyService --echo        # answer every call with its own bytes
              ipcscope call MyService --function 1 --text 'hello'
            """,
        version: "ipcscope 0.1.0 (section format \(IPCSCOPE_VERSION))",  // CHANGELOG.md: what each release holds
        subcommands: IPCScope.verbs)
}
