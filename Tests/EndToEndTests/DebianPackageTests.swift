// The Debian packages as a user gets them: `make deb` once per test run (a static release build,
// minutes the first time, then only what changed, in .build-static), the packages checked as
// dpkg and lintian see them, then installed into a clean Debian root that has no Swift and no
// compiler (DebianRootSupport.swift), used there as a user would, and removed without a trace.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import Foundation
import Testing
import TestSupport

private let packageNames = ["ipcscope", "libmbvipc1", "libmbvipc-dev"]

/// What one `make deb` made: each package's .deb and their Debian version.
struct DebianPackages: Sendable {
    let files: [String: String]
    let version: String
}

struct PackagesNotBuilt: Error, CustomStringConvertible {
    let description: String
}

/// The packages of this test run, made on first use by `make deb` into a folder that lives as
/// long as the test process.
private let builtPackages: Result<DebianPackages, PackagesNotBuilt> = {
    var template = Array("/tmp/ipcscope-debs-XXXXXX".utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        return .failure(PackagesNotBuilt(description: "cannot make a folder under /tmp"))
    }
    packagesFolder = String(cString: made)
    atexit { removeTree(packagesFolder) }
    let scope = TestScope()
    defer { scope.cleanup() }
    let started = now()
    // gzip instead of xz: the same packages, made in seconds instead of half a minute.
    let make = scope.run("/usr/bin/make", ["-C", repositoryRoot, "deb", "DEBDIR=" + packagesFolder, "DEB_COMPRESSION=gzip"],
                         timeout: 3600)
    print("make deb: \(String(format: "%.1f", now() - started)) s")
    let log = "\(make.stdout.suffix(4000))\n\(make.stderr.suffix(4000))"
    guard make.exitStatus == 0 else { return .failure(PackagesNotBuilt(description: "make deb failed:\n\(log)")) }
    var files: [String: String] = [:]
    let names = (try? FileManager.default.contentsOfDirectory(atPath: packagesFolder)) ?? []
    for package in packageNames {
        if let name = names.first(where: { $0.hasPrefix(package + "_") && $0.hasSuffix(".deb") }) {
            files[package] = packagesFolder + "/" + name
        }
    }
    guard let main = files["ipcscope"] else { return .failure(PackagesNotBuilt(description: "make deb made no ipcscope_*.deb:\n\(log)")) }
    let version = scope.run("/usr/bin/dpkg-deb", ["-f", main, "Version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    return .success(DebianPackages(files: files, version: version))
}()

nonisolated(unsafe) private var packagesFolder = ""

/// The packages of this test run (made on first use); throws when `make deb` failed.
func debianPackagesOfThisRun() throws -> DebianPackages {
    switch builtPackages {
    case .success(let built): return built
    case .failure(let failure): throw failure
    }
}

/// CHANGELOG.md's newest `## [x.y.z]` release.
private func newestRelease() throws -> String {
    let changelog = try String(contentsOfFile: repositoryRoot + "/CHANGELOG.md", encoding: .utf8)
    let newest = changelog.split(separator: "\n").first { $0.hasPrefix("## [") && !$0.contains("Unreleased") }
    let release = newest.flatMap { $0.split(separator: "[").dropFirst().first?.split(separator: "]").first }
    return try #require(release.map(String.init), "CHANGELOG.md has no '## [x.y.z]' release")
}

private func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

private func dpkgArchitecture(_ variable: String) -> String {
    let scope = TestScope()
    defer { scope.cleanup() }
    return scope.run("/usr/bin/dpkg-architecture", ["-q" + variable]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}
let multiarch = dpkgArchitecture("DEB_HOST_MULTIARCH")
private let debianArchitecture = dpkgArchitecture("DEB_HOST_ARCH")

private let haveLintian = access("/usr/bin/lintian", X_OK) == 0

@Suite("Debian package", .serialized)
struct DebianPackageTests {
    @Test("make deb: three packages versioned from ipcscope --version, a binary that needs no Swift, Depends from dpkg-shlibdeps")
    func packagesAsDpkgSeesThem() throws {
        let built = try debianPackagesOfThisRun()
        let scope = TestScope()
        defer { scope.cleanup() }
        for package in packageNames {
            let file = try #require(built.files[package], "no \(package)_*.deb")
            #expect(file.hasSuffix("/\(package)_\(built.version)_\(debianArchitecture).deb"), "\(file)")
            let fields = scope.run("/usr/bin/dpkg-deb", ["-f", file, "Package", "Version", "Maintainer", "Description"]).stdout
            #expect(fields.contains("Package: \(package)\n") && fields.contains("Version: \(built.version)\n")
                    && fields.contains("Maintainer: ") && fields.contains("Description: "), "\(package): \(fields)")
        }

        // The version: the binary's own release, which is CHANGELOG.md's newest, plus a Debian revision.
        let unpacked = scope.directory + "/ipcscope"
        let extract = scope.run("/usr/bin/dpkg-deb", ["-x", built.files["ipcscope"]!, unpacked])
        try #require(extract.exitStatus == 0, "\(extract.stderr)")
        let binary = unpacked + "/usr/bin/ipcscope"
        let release = try newestRelease()
        #expect(scope.run(binary, ["--version"]).stdout == "ipcscope \(release) (section format \(IPCSCOPE_VERSION))\n")
        #expect(built.version.hasPrefix(release + "-"), "package version \(built.version), release \(release)")

        // Only system libraries, no run path: the Swift runtime and Foundation are inside.
        let ldd = scope.run("/usr/bin/ldd", [binary]).stdout
        let allowed = ["linux-vdso.so", "libc.so", "libm.so", "libstdc++.so", "libgcc_s.so", "libncursesw.so", "libtinfo.so",
                       "ld-linux-x86-64.so", "libpthread.so", "libdl.so"]
        for line in lines(ldd) {
            let word = line.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? ""
            let name = String(word.split(separator: "/").last ?? "")
            #expect(allowed.contains { name.hasPrefix($0) } && !line.contains("not found"), "ldd ipcscope: \(line)")
        }
        #expect(!ldd.lowercased().contains("swift") && !ldd.contains("Foundation") && !ldd.contains("dispatch"), "\(ldd)")
        let dynamic = scope.run("/usr/bin/readelf", ["-d", binary]).stdout
        #expect(!dynamic.contains("RPATH") && !dynamic.contains("RUNPATH"), "\(dynamic)")

        // Depends: exactly the packages that own the libraries it needs (what dpkg-shlibdeps computes).
        let depends = scope.run("/usr/bin/dpkg-deb", ["-f", built.files["ipcscope"]!, "Depends"]).stdout
        let dependedOn = Set(depends.split(separator: ",").compactMap { $0.split(separator: " ").first.map(String.init) })
        var owners = Set<String>()
        for line in lines(ldd) where line.contains("=> /") || line.trimmingCharacters(in: .whitespaces).hasPrefix("/") {
            let path = line.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("/") }.map(String.init) ?? ""
            guard !path.isEmpty else { continue }
            // dpkg knows a file by the path its package ships (/usr/lib/... or /lib/...), ldd by the merged one.
            let search = scope.run("/bin/sh", ["-c", "dpkg -S \(shellQuoted(path)) || dpkg -S \(shellQuoted("/usr" + path))"])
            let owner = search.stdout.split(separator: ":").first.map(String.init) ?? ""
            if !owner.isEmpty { owners.insert(owner) }
        }
        #expect(!owners.isEmpty && dependedOn == owners, "Depends: \(depends) but the libraries come from \(owners.sorted())")

        // What each package holds.
        let expected: [String: [String]] = [
            "ipcscope": ["/usr/bin/ipcscope", "/usr/share/man/man1/ipcscope.1.gz", "/usr/share/man/man5/ipcscope-section.5.gz",
                         "/usr/share/bash-completion/completions/ipcscope", "/usr/share/zsh/site-functions/_ipcscope",
                         "/usr/share/fish/vendor_completions.d/ipcscope.fish",
                         "/usr/lib/\(multiarch)/wireshark/plugins/ipcscope.lua", "/usr/share/doc/ipcscope/copyright",
                         "/usr/share/doc/ipcscope/changelog.Debian.gz", "/usr/share/doc/ipcscope/changelog.gz",
                         "/usr/share/doc/ipcscope/docs/section-format.md.gz"],
            "libmbvipc1": ["/usr/lib/\(multiarch)/libmbvipc.so.1", "/usr/share/doc/libmbvipc1/copyright",
                           "/usr/share/doc/libmbvipc1/changelog.Debian.gz"],
            "libmbvipc-dev": ["/usr/include/mbvipc/mbv_ipc.h", "/usr/include/mbvipc/ipcscope_section.h",
                              "/usr/lib/\(multiarch)/libmbvipc.so", "/usr/lib/\(multiarch)/libmbvipc.a",
                              "/usr/lib/\(multiarch)/pkgconfig/mbvipc.pc", "/usr/share/man/man3/mbv_ipc.3.gz",
                              "/usr/share/man/man3/MBV_IPCCall.3.gz", "/usr/share/doc/libmbvipc-dev/copyright"],
        ]
        for (package, paths) in expected {
            let listing = scope.run("/usr/bin/dpkg-deb", ["-c", built.files[package] ?? "/nonexistent"]).stdout
            let held = Set(lines(listing).compactMap { line in
                line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(5).first.map { String($0.dropFirst()) }
            })
            for path in paths { #expect(held.contains(path), "\(package) lacks \(path)") }
        }
        if access("/usr/bin/tshark", X_OK) == 0 {  // where Debian's own Wireshark reads Lua plugins
            let folders = scope.run("/bin/sh", ["-c", "tshark -G folders 2>/dev/null"]).stdout
            #expect(folders.contains("/usr/lib/\(multiarch)/wireshark/plugins\n"), "\(folders)")
        }

        // The Debian changelog comes from CHANGELOG.md and names the package's version; the
        // upstream changelog is CHANGELOG.md itself.
        let doc = unpacked + "/usr/share/doc/ipcscope"
        let debianChangelog = scope.run("/bin/sh", ["-c", "gzip -dc \(shellQuoted(doc + "/changelog.Debian.gz")) > \(shellQuoted(scope.directory + "/changelog"))"
            + " && dpkg-parsechangelog -l \(shellQuoted(scope.directory + "/changelog")) -S Version"])
        #expect(debianChangelog.stdout == built.version + "\n", "\(debianChangelog.stdout)\(debianChangelog.stderr)")
        #expect(readFile(scope.directory + "/changelog").contains("[ \(release), released "), "no \(release) entry")
        let upstream = scope.run("/bin/sh", ["-c", "gzip -dc \(shellQuoted(doc + "/changelog.gz")) | cmp - \(shellQuoted(repositoryRoot + "/CHANGELOG.md"))"])
        #expect(upstream.exitStatus == 0, "changelog.gz is not CHANGELOG.md: \(upstream.stdout)")

        // copyright is machine-readable: the format's header, and every license named has its text.
        let copyright = readFile(doc + "/copyright")
        #expect(copyright.hasPrefix("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"))
        let paragraphs = copyright.components(separatedBy: "\n\n")
        let named = Set(paragraphs.filter { $0.hasPrefix("Files:") }.compactMap { paragraph in
            lines(paragraph).first { $0.hasPrefix("License: ") }.map { String($0.dropFirst(9)) }
        })
        let texts = Set(paragraphs.filter { $0.hasPrefix("License: ") && $0.contains("\n ") }.map {
            String(lines($0)[0].dropFirst(9))
        })
        #expect(!named.isEmpty && named.isSubset(of: texts), "licenses without text: \(named.subtracting(texts))")

        // The C library: shlibs, symbols and the ldconfig trigger; -dev pinned to the same build.
        let control = scope.directory + "/libmbvipc1-control"
        _ = scope.run("/usr/bin/dpkg-deb", ["-e", built.files["libmbvipc1"] ?? "/nonexistent", control])
        #expect(readFile(control + "/shlibs").hasPrefix("libmbvipc 1 libmbvipc1 (>= \(release))"))
        #expect(readFile(control + "/symbols").contains(" MBV_IPCCall@Base "))
        #expect(readFile(control + "/triggers").contains("activate-noawait ldconfig"))
        let devDepends = scope.run("/usr/bin/dpkg-deb", ["-f", built.files["libmbvipc-dev"] ?? "/nonexistent", "Depends"]).stdout
        #expect(devDepends.contains("libmbvipc1 (= \(built.version))"), "\(devDepends)")
    }

    @Test("lintian: no error and no warning (what it still says is overridden with a reason)",
          .enabled(if: haveLintian, "lintian is not installed: apt-get install -y lintian (.ci/run installs it)"))
    func lintianIsClean() throws {
        let built = try debianPackagesOfThisRun()
        let scope = TestScope()
        defer { scope.cleanup() }
        let debs = packageNames.compactMap { built.files[$0] }
        let lintian = scope.run("/usr/bin/lintian", ["--fail-on", "error,warning"] + debs, timeout: 300)
        let complaints = lines(lintian.stdout).filter { $0.hasPrefix("E:") || $0.hasPrefix("W:") }
        #expect(lintian.exitStatus == 0 && complaints.isEmpty, "lintian:\n\(lintian.stdout)\(lintian.stderr)")
    }
}
