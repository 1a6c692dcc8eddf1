#if canImport(Glibc)
import Glibc
#endif

/// Whole-file reads of small files: /proc and /sys files (whose reported size is 0, so they are
/// read to their end rather than by size) and configuration files. Every read is bounded: a
/// file that goes on past `limit` bytes (`/dev/zero`, a huge file named by mistake) is not
/// read to its end.
public enum FileContents {
    /// The default bound: above any /proc or /sys file the agent reads (kallsyms is a few MiB;
    /// the maps of a process at the kernel's 65530-mapping limit about 8 MiB).
    public static let defaultLimit = 64 << 20

    /// The file's bytes, or nil when it cannot be opened (errno tells why) or holds more than
    /// `limit` bytes (errno is EFBIG).
    public static func bytes(_ path: String, limit: Int = defaultLimit) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return bytes }
            guard bytes.count + count <= limit else {
                errno = EFBIG
                return nil
            }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// The file as UTF-8 text.
    public static func text(_ path: String, limit: Int = defaultLimit) -> String? {
        bytes(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }
}
