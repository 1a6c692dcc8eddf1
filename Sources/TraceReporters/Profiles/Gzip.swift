import CZlib

/// Why compressing failed: zlib's return code and message.
public struct GzipError: Error, CustomStringConvertible {
    /// zlib's return code (`Z_STREAM_ERROR`, `Z_BUF_ERROR`, …).
    public var code: Int32
    /// zlib's message; else the step that failed (`deflateInit2`) or `output did not fit`.
    public var message: String
    public var description: String { "gzip failed (zlib \(code)): \(message)" }
}

enum Gzip {
    /// `data` as one gzip member (RFC 1952), what `go tool pprof` and `gunzip` read.
    static func compress(_ data: [UInt8], level: Int32 = 6) throws(GzipError) -> [UInt8] {
        var stream = z_stream()
        let initialized = th_deflate_init_gzip(&stream, level)
        guard initialized == Z_OK else { throw GzipError(code: initialized, message: "deflateInit2") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(data.count))) + 32)
        let result: Int32 = data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                // zlib does not write through next_in; its type predates const.
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = UInt32(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard result == Z_STREAM_END else {
            throw GzipError(code: result, message: stream.msg.map { String(cString: $0) } ?? "output did not fit")
        }
        output.removeLast(Int(stream.avail_out))
        return output
    }
}
