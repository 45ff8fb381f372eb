// What to start and how, and how it ended.
#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Where a child's standard output or error goes.
package enum Redirect: Sendable, Equatable {
    /// `/dev/null`.
    case null
    /// This process's own standard error (or output), shared with the child.
    case inherit
    /// A file, created with the launch's `fileMode` if missing; truncated, or appended to.
    case file(String, append: Bool)
    /// The same open file as standard output (`2>&1`); for standard error only.
    case standardOutput
    /// A pipe whose read end this process keeps (`StartedProcess.readOutput`); for standard output only.
    case pipe
}

/// What to start and how: the program, its arguments, additions to the inherited environment,
/// and where its standard streams go.
package struct Launch: Sendable {
    /// The program's path; it is also the child's `argv[0]` unless `argumentZero` is set.
    package var executable: String
    /// The arguments after `argv[0]`.
    package var arguments: [String]
    /// The child's `argv[0]` (what `ps` shows) when not the path.
    package var argumentZero: String?
    /// Variables set (or replaced) in a copy of this process's environment.
    package var environment: [String: String]
    /// The file the child reads as standard input.
    package var standardInput: String
    /// Standard input from a pipe whose write end this process keeps (`StartedProcess.takePipes`)
    /// instead of `standardInput`.
    package var standardInputPipe = false
    /// Where standard output goes.
    package var standardOutput: Redirect
    /// Where standard error goes.
    package var standardError: Redirect
    /// The permission bits of an output file this launch creates.
    package var fileMode: mode_t

    /// A launch with stdin from `/dev/null`, stdout and stderr discarded, the environment inherited.
    package init(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                standardInput: String = "/dev/null", standardOutput: Redirect = .null,
                standardError: Redirect = .null, fileMode: mode_t = 0o644, argumentZero: String? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.argumentZero = argumentZero
        self.environment = environment
        self.standardInput = standardInput
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.fileMode = fileMode
    }
}

/// Why a process could not be started.
package struct LaunchError: Error, CustomStringConvertible, Sendable {
    /// The program that was to run.
    package let executable: String
    /// What failed, in words.
    package let reason: String
    /// The errno value behind it, when there is one.
    package let errno: Int32?

    /// "cannot start PATH: REASON".
    package var description: String { "cannot start \(executable): \(reason)" }
}

/// How a process ended.
package enum Termination: Sendable, Equatable {
    /// It exited with this code.
    case exited(Int32)
    /// This signal ended it.
    case signaled(Int32)

    /// The shell's number: the exit code, or 128 + the signal.
    package var code: Int32 {
        switch self {
        case .exited(let c): return c
        case .signaled(let s): return 128 + s
        }
    }
}

// MARK: - the child's standard files

/// The three descriptors a launch hands to the child, opened here with `O_CLOEXEC`, and the read
/// end of standard output's pipe, which stays here.
struct StandardFiles: @unchecked Sendable {
    let input: FileDescriptor
    let output: FileDescriptor
    let error: FileDescriptor
    let closeOutput: Bool
    let closeError: Bool
    let outputPipe: Int32?
    /// The write end of standard input's pipe (`Launch.standardInputPipe`).
    let inputPipe: Int32?

    init(_ launch: Launch) throws(LaunchError) {
        func open(_ path: String, _ flags: Int32) throws(LaunchError) -> FileDescriptor {
            let fd = Glibc.open(path, flags | O_CLOEXEC, launch.fileMode)
            guard fd >= 0 else {
                let e = errno
                throw LaunchError(executable: launch.executable,
                                  reason: "cannot open \(path): \(String(cString: strerror(e)))", errno: e)
            }
            return FileDescriptor(rawValue: fd)
        }
        var pipeRead: Int32?
        func open(_ redirect: Redirect, inherited: Int32) throws(LaunchError) -> (FileDescriptor, close: Bool) {
            switch redirect {
            case .null, .standardOutput: return (try open("/dev/null", O_WRONLY), true)
            case .pipe:
                guard inherited == 1 else {
                    throw LaunchError(executable: launch.executable, reason: "a pipe is for standard output only", errno: nil)
                }
                // pipe2 is not in Swift's Glibc module. Between pipe and fcntl another thread's fork
                // could inherit the ends; swift-subprocess's children close all but 0, 1 and 2 anyway.
                var ends: [Int32] = [-1, -1]
                guard Glibc.pipe(&ends) == 0 else {
                    let e = errno
                    throw LaunchError(executable: launch.executable, reason: "pipe: \(String(cString: strerror(e)))", errno: e)
                }
                for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
                pipeRead = ends[0]
                return (FileDescriptor(rawValue: ends[1]), true)
            case .inherit: return (FileDescriptor(rawValue: inherited), false)
            case .file(let path, let append):
                return (try open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC)), true)
            }
        }
        if launch.standardInputPipe {
            var ends: [Int32] = [-1, -1]
            guard Glibc.pipe(&ends) == 0 else {
                let e = errno
                throw LaunchError(executable: launch.executable, reason: "pipe: \(String(cString: strerror(e)))", errno: e)
            }
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            input = FileDescriptor(rawValue: ends[0])
            inputPipe = ends[1]
        } else {
            input = try open(launch.standardInput, O_RDONLY)
            inputPipe = nil
        }
        do throws(LaunchError) {
            (output, closeOutput) = try open(launch.standardOutput, inherited: 1)
        } catch {
            _ = Glibc.close(input.rawValue)
            if let inputPipe { _ = Glibc.close(inputPipe) }
            throw error
        }
        do throws(LaunchError) {
            if launch.standardError == .standardOutput {
                // A duplicate shares the open file (and its offset) with standard output, as `2>&1` does.
                let fd = fcntl(output.rawValue, F_DUPFD_CLOEXEC, 3)
                guard fd >= 0 else {
                    let e = errno
                    throw LaunchError(executable: launch.executable, reason: "dup: \(String(cString: strerror(e)))", errno: e)
                }
                (error, closeError) = (FileDescriptor(rawValue: fd), true)
            } else {
                (error, closeError) = try open(launch.standardError, inherited: 2)
            }
        } catch {
            _ = Glibc.close(input.rawValue)
            if let inputPipe { _ = Glibc.close(inputPipe) }
            if closeOutput { _ = Glibc.close(output.rawValue) }
            if let pipeRead { _ = Glibc.close(pipeRead) }
            throw error
        }
        outputPipe = pipeRead
    }

    /// Closes what this launch opened (when it fails before the spawn).
    func close() {
        _ = Glibc.close(input.rawValue)
        if closeOutput { _ = Glibc.close(output.rawValue) }
        if closeError { _ = Glibc.close(error.rawValue) }
        if let outputPipe { _ = Glibc.close(outputPipe) }
        if let inputPipe { _ = Glibc.close(inputPipe) }
    }
}

// MARK: - where this executable lives

/// This executable's real path (`/proc/self/exe`), or `argv[0]` if that cannot be read.
package let ownExecutablePath: String = {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, 4095)
    guard n > 0 else { return CommandLine.arguments.first ?? "" }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}()

/// The directory of this executable: where SwiftPM builds every product of the package.
package var ownExecutableDirectory: String {
    String(ownExecutablePath[..<(ownExecutablePath.lastIndex(of: "/") ?? ownExecutablePath.endIndex)])
}
