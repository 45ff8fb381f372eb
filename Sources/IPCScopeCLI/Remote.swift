import ArgumentParser
import IPCScopeSchema
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopePOSIX

/// Where to read sections when not on this machine: through an mbvipc-agent reached over ssh or
/// any command whose standard input and output reach one (docs/agent-protocol.md).
struct RemoteOptions: ParsableArguments {
    @Option(name: .customLong("host"), help: ArgumentHelp(
        "Read the section on another host: [USER@]HOST[:PORT], through 'ssh -T' (your ssh config, BatchMode) running mbvipc-agent there.",
        valueName: "host"))
    var host: String?

    @Option(name: .customLong("via"), help: ArgumentHelp(
        "Read the section through COMMAND, whose stdin/stdout reach an mbvipc-agent (e.g. 'docker exec -i ctr mbvipc-agent').",
        valueName: "command"))
    var via: String?

    @Option(name: .customLong("container"), help: ArgumentHelp(
        "Read the section inside the container of process PID (its /dev/shm, its pids), through mbvipc-agent on this machine (root).",
        valueName: "pid"))
    var container: Int32?

    @Option(name: .customLong("ssh-config"), help: ArgumentHelp("With --host: the ssh config file to use (ssh -F).", valueName: "file"))
    var sshConfig: String?

    @Option(name: .customLong("agent-command"), help: ArgumentHelp(
        "With --host or --container: the command that starts the agent (default: mbvipc-agent on PATH).", valueName: "command"))
    var agentCommand = "mbvipc-agent"

    @Option(name: .customLong("push-agent"), help: ArgumentHelp(
        "With --host: when the host has no mbvipc-agent on PATH, copy this static agent over the same ssh connection into a private temporary directory there, run it, and remove it afterwards.",
        valueName: "file"), completion: .file())
    var pushAgent: String?

    @Option(name: .customLong("agent-timeout"), help: ArgumentHelp(
        "Seconds of silence from the agent before giving up.", valueName: "seconds"))
    var agentTimeout: Double = 10

    var isRemote: Bool { host != nil || via != nil || container != nil }

    func validate() throws {
        if [host != nil, via != nil, container != nil].filter({ $0 }).count > 1 {
            throw ValidationError("--host, --via and --container each say where the section is: give one")
        }
        if sshConfig != nil && host == nil { throw ValidationError("--ssh-config goes with --host") }
        if pushAgent != nil && host == nil { throw ValidationError("--push-agent goes with --host (copy the agent yourself for --via; --container runs it on this machine)") }
        if agentCommand != "mbvipc-agent" && host == nil && container == nil {
            throw ValidationError("--agent-command goes with --host or --container (with --via, the command is yours)")
        }
        if let container, container < 1 { throw ValidationError("--container takes a process id (1 or more)") }
        guard agentTimeout > 0, agentTimeout <= 3600 else { throw ValidationError("--agent-timeout takes seconds from 0 to 3600") }
        if let via, via.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--via needs a command") }
    }

    /// The transport, or a usage error for a bad host.
    func transport() throws -> AgentTransport {
        if let via { return .via(via) }
        if let container { return .container(pid: container, agentCommand: agentCommand) }
        do {
            if let pushAgent {
                return try .sshPushing(host ?? "", agentFile: pushAgent, agentCommand: agentCommand, configFile: sshConfig)
            }
            return try .ssh(host ?? "", agentCommand: agentCommand, configFile: sshConfig)
        } catch {
            throw usageFailure(error.description)
        }
    }

    /// Connects, or prints why not (exit 1).
    func connect() throws -> AgentConnection {
        let t = try transport()
        do {
            return try AgentConnection(t, timeout: agentTimeout)
        } catch {
            printError("cannot reach the agent \(t.place): \(t.explain(error))")
            throw ExitCode(1)
        }
    }
}

/// The exit status and message for an agent's failure on one section.
func remoteFailure(_ error: AgentProtocolError, place: String) -> ExitCode {
    switch error {
    case .agent(let code, let message):
        printError("\(place): \(message)")
        return ExitCode(code == AgentErrorCode.notRegular ? 2 : code == AgentErrorCode.badName ? 64 : 1)
    default:
        printError("\(place): \(error.description)")
        return ExitCode(1)
    }
}

extension IPCScope.Status {
    /// `status --host/--via`: the same report, from a snapshot the agent took on the section's host.
    func runRemote(schema: Schema?) throws {
        let connection = try remote.connect()
        defer { connection.close() }
        let place = connection.transport.place
        var taken: RemoteSnapshot
        do {
            taken = try connection.snapshot(service: name)
            let end = monotonicNanoseconds() + 1_000_000_000
            while taken.snapshot.starting && monotonicNanoseconds() < end {
                sleepNS(20_000_000)
                taken = try connection.snapshot(service: name)
            }
        } catch {
            throw remoteFailure(error, place: place)
        }
        let snap = taken.snapshot
        var report = StatusReport(snap, traceLimit: trace == "all" ? nil : Int(trace), facts: taken.facts)
        report.verboseDump = verbose
        report.place = place
        if json {
            printJSON(Self.withLatency(Self.withFields(report.json, snap, schema), snap, schema))
        } else {
            printOut(report.text(style: stdoutStyle) + Self.latencyText(snap, schema) + Self.fieldsText(snap, schema))
        }
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}

extension IPCScope.List {
    /// `list --host/--via`: the agent's /dev/shm, each entry judged as a local one is.
    func remoteEntries() throws -> (String, [SectionEntry]) {
        let connection = try remote.connect()
        defer { connection.close() }
        do {
            return (connection.transport.place, try connection.sectionEntries())
        } catch {
            throw remoteFailure(error, place: connection.transport.place)
        }
    }
}

/// The exit status and message for a source's failure: a local section's as `fail` gives it, an
/// agent's as `remoteFailure`.
func sourceFailure(_ error: SourceError, place: String?) -> ExitCode {
    switch error {
    case .section(let e): return fail(e)
    case .agent(let e): return remoteFailure(e, place: place ?? "the agent")
    }
}

/// The recorder `watch` and `record` follow a service with: this machine's section, or the one an
/// agent reads on its host (docs/agent-protocol.md). `close` ends the agent's transport.
struct RecorderSource {
    let recorder: CallRecorder
    let connection: AgentConnection?
    var place: String? { connection?.transport.place }

    static func start(_ name: String, remote: RemoteOptions, fromStart: Bool) throws -> RecorderSource {
        guard remote.isRemote else {
            do {
                let r = try CallRecorder(service: name)
                try r.start(fromStart: fromStart)
                return RecorderSource(recorder: r, connection: nil)
            } catch let e as IPCError {
                throw fail(e)
            } catch let e as SourceError {
                throw sourceFailure(e, place: nil)
            }
        }
        do { _ = try ServiceName(name) } catch { throw fail(error) }  // a bad name is a usage error before any transport starts
        let connection = try remote.connect()
        do {
            let r = try CallRecorder(remote: RemoteTraceFollower(service: name, connection: connection))
            try r.start(fromStart: fromStart)
            return RecorderSource(recorder: r, connection: connection)
        } catch let e as SourceError {
            connection.close()
            throw sourceFailure(e, place: connection.transport.place)
        } catch {
            connection.close()
            throw ExitCode(1)
        }
    }

    func poll() throws -> CallRecorder.Poll {
        do { return try recorder.poll() } catch { throw sourceFailure(error, place: place) }
    }

    func close() { connection?.close() }
}
