internal import CZlib

#if canImport(Glibc)
import Glibc
#endif

/// Finds the separate debug file of an ELF file, the way gdb and perf do, for files stripped to
/// `.dynsym` whose full symbols (and `.debug_frame`) were shipped apart — Debian's `*-dbg` and
/// `*-dbgsym` packages, Fedora's debuginfo:
///
/// 1. by GNU build id: `DIR/.build-id/xx/yyyy….debug` in each debug directory, used only when the
///    debug file carries the same build id;
/// 2. by `.gnu_debuglink`: the named file beside the original, in its `.debug/` folder, and
///    under `DIR/<the original's directory>/` — used only when its CRC-32 matches the link's.
///
/// A candidate that exists but does not match is not used, and counted (`rejected`): a stale
/// debug package must not name functions with another build's symbols.
struct DebugFileLocator {
    /// Where debug files are installed (`symbolize.debug-directories`).
    let directories: [String]
    /// Debug files above this size are not read for a CRC (a sparse file could claim terabytes).
    static let maximumBytes: Int64 = 2 << 30

    private(set) var found = 0
    private(set) var rejected = 0

    init(directories: [String]) { self.directories = directories }

    /// The debug file of `file`, opened and its sections read, or nil. `originalDirectory` is the
    /// directory of the original file as this process sees it (for a mapping of another mount
    /// namespace: through `/proc/<pid>/root`).
    mutating func debugFile(
        for file: ELFFile, sections: ELFFile.Sections, originalDirectory: String?
    ) -> (file: ELFFile, sections: ELFFile.Sections)? {
        if let buildID = file.buildID(sections.notes), buildID.count > 2 {
            let name = "/.build-id/\(buildID.prefix(2))/\(buildID.dropFirst(2)).debug"
            for directory in directories {
                guard let candidate = open(directory + name) else { continue }
                if candidate.file.buildID(candidate.sections.notes) == buildID {
                    found += 1
                    return candidate
                }
                rejected += 1
            }
        }
        if let link = file.debugLink(sections) {
            var paths: [String] = []
            if let originalDirectory {
                paths += [originalDirectory + "/" + link.name, originalDirectory + "/.debug/" + link.name]
                paths += directories.map { $0 + originalDirectory + "/" + link.name }
            }
            for path in paths where path != file.path {
                guard let candidate = open(path) else { continue }
                if let fd = candidate.file.fd, Self.crc32(fd: fd) == link.crc {
                    found += 1
                    return candidate
                }
                rejected += 1
            }
        }
        return nil
    }

    private func open(_ path: String) -> (file: ELFFile, sections: ELFFile.Sections)? {
        guard let file = try? ELFFile(path: path), let sections = try? file.sections() else { return nil }
        return (file, sections)
    }

    /// CRC-32 (zlib's, the one `.gnu_debuglink` uses) of the whole file, or nil when it cannot be
    /// read or is larger than `maximumBytes`.
    static func crc32(fd: Int32) -> UInt32? {
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_size <= maximumBytes else { return nil }
        var crc = CZlib.crc32(0, nil, 0)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while offset < status.st_size {
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }  // shrank while we read it, or an error
            crc = buffer.withUnsafeBufferPointer { CZlib.crc32(crc, $0.baseAddress, uInt(count)) }
            offset += off_t(count)
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}
