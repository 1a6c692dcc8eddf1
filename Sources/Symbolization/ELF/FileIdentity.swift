public import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// A file's identity from its content, as upstream derives `libpf.FileID`
/// (`FileIDFromExecutableReader`): a hash over the first 4 KiB, the last 4 KiB and the length,
/// so the same file has the same id on every host and under every path, without reading it all.
/// Upstream hashes with SHA-256 and keeps 128 bits; we use XXH3-128 (the hash this project already
/// carries), over the same three inputs: head, tail, length as 8 little-endian bytes.
public enum FileIdentity {
    static let chunk = 4096

    static func of(fd: Int32, path: String) throws(SymbolizationError) -> FileID {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .cannotOpen(path: path, errno: errno) }
        let length = Int(status.st_size)
        var bytes = [UInt8](repeating: 0, count: 2 * chunk + 8)
        let headCount = min(chunk, length)
        let tailCount = min(chunk, length)
        let readHead = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, headCount, 0) }
        let readTail = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + headCount, tailCount, off_t(length - tailCount)) }
        guard readHead == headCount, readTail == tailCount else { throw .cannotOpen(path: path, errno: errno) }
        var size = UInt64(length).littleEndian
        let used = headCount + tailCount
        withUnsafeBytes(of: &size) { sizeBytes in
            for i in 0..<8 { bytes[used + i] = sizeBytes[i] }
        }
        let hash = bytes[0..<used + 8].withUnsafeBytes { TraceHash(xxh3Of: $0) }
        return FileID(high: hash.high, low: hash.low)
    }

    /// The identity of the file at `path`.
    public static func of(path: String) throws(SymbolizationError) -> FileID {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        return try of(fd: fd, path: path)
    }
}
