#if canImport(Glibc)
import Glibc
#endif

/// Whole-file reads of small files: /proc and /sys files (whose reported size is 0, so they are
/// read to their end rather than by size) and configuration files.
public enum FileContents {
    /// The file's bytes, or nil when it cannot be opened (errno tells why).
    public static func bytes(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    /// The file as UTF-8 text.
    public static func text(_ path: String) -> String? { bytes(path).map { String(decoding: $0, as: UTF8.self) } }
}
