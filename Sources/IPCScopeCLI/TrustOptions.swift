import ArgumentParser
import IPCScopeKit

/// `--trust-uid` and `--trust-world-writable`: which sections a verb that makes calls (call, bench,
/// replay, attach's client pane) accepts besides your own and root's. The client library's refusals
/// name these flags, so every verb that connects takes them.
struct TrustOptions: ParsableArguments {
    @Option(help: "Also trust a section owned by this uid.")
    var trustUID: UInt32?

    @Flag(help: "Also call a section every user may write (mode o+w, from 'serve --allow-world-writable'): anyone could read the calls and forge the answers.")
    var trustWorldWritable = false

    /// Client options with this trust (and the defaults otherwise).
    var clientOptions: ClientOptions {
        var o = ClientOptions()
        o.trustedUID = trustUID
        o.trustWorldWritable = trustWorldWritable
        return o
    }

    /// The same options as command-line arguments (for bench's worker processes).
    var arguments: [String] {
        (trustUID.map { ["--trust-uid", String($0)] } ?? []) + (trustWorldWritable ? ["--trust-world-writable"] : [])
    }
}
