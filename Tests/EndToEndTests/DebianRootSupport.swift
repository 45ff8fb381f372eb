// A clean Debian root to install the packages into, as a user's machine would be: made once with
// debootstrap from the mirror apt on this machine uses, kept as a tarball in a cache folder, and
// unpacked afresh for each test. Commands run in it through chroot inside a private mount
// namespace: /proc, a tmpfs on /dev/shm and the cached apt archives are mounted there only, so
// the kernel takes them down with the namespace's last process, however the test ends, and the
// host's mount table never sees them.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

/// The Debian release the root is made of: the one this machine's apt points at.
let debianSuite = "bookworm"

/// Where the root's tarball and apt's downloaded packages are kept between runs
/// (`IPCSCOPE_TEST_CACHE`, else /var/cache/ipcscope-tests).
let debianTestCache = ProcessInfo.processInfo.environment["IPCSCOPE_TEST_CACHE"] ?? "/var/cache/ipcscope-tests"

/// Quotes a word for /bin/sh.
func shellQuoted(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// The first mirror in /etc/apt/sources.list and /etc/apt/sources.list.d (one-line `.list` and
/// deb822 `.sources` files) that serves `suite` with `main`, or nil.
func configuredDebianMirror(suite: String = debianSuite) -> String? {
    var files = ["/etc/apt/sources.list"]
    let folder = "/etc/apt/sources.list.d"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    files += names.sorted().filter { $0.hasSuffix(".list") || $0.hasSuffix(".sources") }.map { folder + "/" + $0 }
    for file in files {
        let text = readFile(file)
        if file.hasSuffix(".sources") {
            for stanza in text.components(separatedBy: "\n\n") {
                var fields: [String: [String]] = [:]
                for line in stanza.split(separator: "\n") where !line.hasPrefix("#") {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].split(separator: " ").map(String.init)
                }
                if fields["enabled"]?.first?.lowercased() == "no" { continue }
                if fields["types"]?.contains("deb") == true, fields["suites"]?.contains(suite) == true,
                   fields["components"]?.contains("main") == true, let uri = fields["uris"]?.first {
                    return uri
                }
            }
        } else {
            for line in text.split(separator: "\n") {
                var words = line.split(separator: " ").map(String.init)
                guard words.first == "deb" else { continue }
                words.removeFirst()
                if words.first?.hasPrefix("[") == true {  // [arch=amd64 signed-by=...]
                    while let word = words.first, !word.hasSuffix("]") { words.removeFirst() }
                    if !words.isEmpty { words.removeFirst() }
                }
                if words.count >= 3, words[1] == suite, words[2...].contains("main") { return words[0] }
            }
        }
    }
    return nil
}

/// Why a Debian root cannot be made or used here, or nil when it can.
func debianRootUnavailable() -> String? {
    if getuid() != 0 { return "needs root (debootstrap, chroot, mount namespaces); run the tests as root" }
    let tarball = debianRootTarball
    if access(tarball, R_OK) == 0 { return nil }
    if configuredDebianMirror() == nil {
        return "no \(debianSuite) mirror with main in /etc/apt/sources.list*, and no cached root at \(tarball)"
    }
    return nil
}

/// The cached root: minbase plus what a user reads and completes with (man-db, bash-completion),
/// apt's package lists, dpkg told not to fsync and man-db not to rebuild its index at every install.
let debianRootTarball = debianTestCache + "/debian-\(debianSuite)-minbase-v1.tar"
/// apt's downloaded packages, bind-mounted as the root's /var/cache/apt/archives.
let debianArchives = debianTestCache + "/apt-archives"

/// Makes the cached tarball unless it exists (under a lock: another test run may be making it).
/// Throws a cancellation when the mirror cannot be reached (nothing here can run then).
func ensureDebianRootTarball(scope: TestScope) throws {
    mkdir(debianTestCache, 0o755)
    mkdir(debianArchives, 0o755)
    mkdir(debianArchives + "/partial", 0o755)
    if access(debianRootTarball, R_OK) == 0 { return }
    guard let mirror = configuredDebianMirror() else {
        try Test.cancel("no \(debianSuite) mirror in /etc/apt/sources.list* and no cached root at \(debianRootTarball)")
    }
    let release = "\(mirror)/dists/\(debianSuite)/Release"
    let probe = scope.run("/usr/lib/apt/apt-helper", ["download-file", release, scope.directory + "/Release"], timeout: 60)
    if probe.exitStatus != 0 {
        try Test.cancel("the \(debianSuite) mirror \(mirror) cannot be reached (\(probe.stdout)\(probe.stderr)), and no cached root at \(debianRootTarball)")
    }
    try #require(access("/usr/sbin/debootstrap", X_OK) == 0,
                 "debootstrap is missing: apt-get install -y debootstrap (.ci/run installs it)")
    let work = debianTestCache + "/.making-\(getpid())"
    let script = """
        set -e
        [ ! -e \(shellQuoted(debianRootTarball)) ] || exit 0
        rm -rf --one-file-system \(shellQuoted(work)); mkdir -p \(shellQuoted(work))
        trap 'rm -rf --one-file-system \(shellQuoted(work))' EXIT
        debootstrap --variant=minbase --include=man-db,bash-completion \(debianSuite) \(shellQuoted(work)) \(shellQuoted(mirror))
        echo force-unsafe-io > \(shellQuoted(work))/etc/dpkg/dpkg.cfg.d/unsafe-io
        cp /etc/resolv.conf \(shellQuoted(work))/etc/resolv.conf
        unshare --mount --propagation private sh -ec '
            mount -t proc proc "$1/proc"
            chroot "$1" sh -c "echo man-db man-db/auto-update boolean false | debconf-set-selections"
            chroot "$1" apt-get update -q
            chroot "$1" apt-get clean' sh \(shellQuoted(work))
        tar -C \(shellQuoted(work)) -cf \(shellQuoted(debianRootTarball)).tmp .
        mv \(shellQuoted(debianRootTarball)).tmp \(shellQuoted(debianRootTarball))
        """
    let made = scope.run("/usr/bin/flock", [debianTestCache + "/.lock", "/bin/sh", "-c", script], timeout: 1800)
    try #require(made.exitStatus == 0 && access(debianRootTarball, R_OK) == 0,
                 "debootstrap from \(mirror) failed:\n\(made.stdout.suffix(3000))\n\(made.stderr.suffix(3000))")
}

/// A fresh copy of the cached root with its own private mount namespace. `close()` (call it with
/// `defer`) ends every process in it and removes it; the mounts go with the namespace.
final class DebianRoot {
    let scope: TestScope
    let path: String
    private var holder: ChildProcess?
    private var closed = false

    /// The environment every command sees: nothing from this machine (no Swift on PATH).
    static let environment = "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb "
        + "DEBIAN_FRONTEND=noninteractive MANWIDTH=80"

    init(scope: TestScope) throws {
        self.scope = scope
        removeAbandonedRoots()
        var template = Array("/var/tmp/ipcscope-debroot-\(getpid())-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = try #require(made.map { String(cString: $0) }, "cannot make a folder under /var/tmp")
        let unpack = scope.run("/bin/tar", ["-C", path, "-xf", debianRootTarball], timeout: 300)
        try #require(unpack.exitStatus == 0, "tar -xf \(debianRootTarball): \(unpack.stderr)")
        _ = scope.run("/bin/cp", ["/etc/resolv.conf", path + "/etc/resolv.conf"])
        let holder = scope.spawn("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-ec", """
            mount -t proc proc "$1/proc"
            mount -t tmpfs -o mode=1777,size=64m tmpfs "$1/dev/shm"
            mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$1/dev/pts"
            mount --bind "$2" "$1/var/cache/apt/archives"
            echo ready
            exec sleep 1800
            """, "sh", path, debianArchives])
        self.holder = holder
        try #require(holder.waitForOutput("ready", timeout: 20) && !holder.hasExited,
                     "cannot mount /proc, /dev/shm, /dev/pts and the apt cache in a private namespace: \(holder.stderr)")
    }

    /// The argument vector that runs `command` (a shell command line) in the root.
    private func chroot(_ arguments: [String]) -> [String] {
        ["-t", "\(holder?.pid ?? 0)", "-m", "--", "chroot", path] + DebianRoot.environment.split(separator: " ").map(String.init)
            + arguments
    }

    /// Runs a shell command line in the root, as root, to completion (at most `timeout` seconds).
    @discardableResult
    func run(_ command: String, timeout: Double = 60) -> ChildProcess {
        scope.run("/usr/bin/nsenter", chroot(["/bin/sh", "-c", command]), timeout: timeout)
    }

    /// Starts a program in the root and returns at once; its pid is the program's own (nsenter,
    /// chroot and env all exec), so signals reach it.
    func spawn(_ program: String, _ arguments: [String]) -> ChildProcess {
        scope.spawn("/usr/bin/nsenter", chroot([program] + arguments))
    }

    /// Copies a host file into the root (at `inside`, an absolute path).
    func copyIn(_ file: String, to inside: String) -> Bool {
        scope.run("/bin/cp", [file, path + inside]).exitStatus == 0
    }

    /// Ends every process the scope started (those in the root among them), the namespace's
    /// holder last, then removes the root's files (never crossing into another file system).
    func close() {
        guard !closed else { return }
        closed = true
        scope.cleanup()
        holder = nil
        removeRoot(path)
    }

    /// Also when `init` threw half-way (the folder is made first).
    deinit { close() }
}

/// Removes a root folder, staying on its own file system: should a mount still show through
/// (it cannot from this namespace), rm leaves it alone rather than emptying the cache behind it.
private func removeRoot(_ path: String) {
    guard path.hasPrefix("/var/tmp/ipcscope-debroot-") else { return }
    let rm = TestScope()
    _ = rm.run("/bin/rm", ["-rf", "--one-file-system", path], timeout: 120)
    rm.cleanup()
}

/// Roots left by a test process that no longer runs (killed before its cleanup).
private func removeAbandonedRoots() {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/var/tmp")) ?? []
    for name in names where name.hasPrefix("ipcscope-debroot-") {
        let pid = name.split(separator: "-").dropFirst(2).first.flatMap { pid_t($0) } ?? 0
        if pid > 0 && pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH { removeRoot("/var/tmp/" + name) }
    }
}
