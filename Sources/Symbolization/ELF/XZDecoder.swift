internal import CLZMA

/// Decodes one xz stream held in memory (liblzma) into an `ELFImage`, within the caller's limits:
/// the only xz streams read here are ELF files compressed into a section, and their bytes are
/// whoever wrote the file's to choose.
///
/// An xz stream ends with an index of its blocks and their decoded sizes. That index is read
/// first, and its total checked against the limit, before anything is allocated or decoded: a
/// small stream that claims hundreds of MiB costs nothing. The output is then allocated at exactly
/// the claimed size and decoded in one call into that fixed buffer, so a stream whose blocks decode
/// to more than its index claims fails when the buffer is full; nothing ever grows.
enum XZDecoder {
    enum Failure: Error, Hashable, CustomStringConvertible {
        /// Within the format, but more than the limits allow.
        case overLimit(String)
        /// Not one intact xz stream.
        case corrupt(String)

        var description: String {
            switch self {
            case .overLimit(let reason), .corrupt(let reason): reason
            }
        }
    }

    struct Limits {
        /// The most bytes the stream may decode to.
        var outputBytes: Int
        /// What liblzma may allocate to decode (mostly the LZMA2 dictionary the stream asks for).
        var decoderBytes: UInt64
        /// What liblzma may allocate to hold the index (grows with the number of blocks).
        var indexBytes: UInt64
    }

    /// The decoded bytes of `input`, which must be exactly one xz stream.
    static func decode(_ input: UnsafeRawBufferPointer, limits: Limits) throws(Failure) -> ELFImage {
        let size = try decodedSize(of: input, limits: limits)
        // `decodedSize` checked that the input holds at least a header and a footer.
        let compressed = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let image = ELFImage(count: size)
        var decoderBytes = limits.decoderBytes
        var inputPosition = 0
        var outputPosition = 0
        // No flags: the integrity check (CRC-64 as xz writes it) is verified, and a second stream
        // after the first is not read.
        let status = image.withUnsafeMutableBytes { output in
            lzma_stream_buffer_decode(
                &decoderBytes, 0, nil, compressed, &inputPosition, input.count,
                output.bindMemory(to: UInt8.self).baseAddress, &outputPosition, output.count)
        }
        switch status {
        case LZMA_OK: break
        case LZMA_MEMLIMIT_ERROR:
            throw .overLimit("decoding needs \(decoderBytes) bytes of memory (at most \(limits.decoderBytes))")
        case LZMA_MEM_ERROR: throw .overLimit("out of memory while decoding")
        case LZMA_BUF_ERROR: throw .corrupt("the blocks decode to more than the index's \(size) bytes, or are cut short")
        default: throw .corrupt("undecodable (liblzma status \(status.rawValue))")
        }
        // liblzma checked the blocks against the index; this is the same fact, stated here.
        guard outputPosition == size, inputPosition == input.count else {
            throw .corrupt("decoded \(outputPosition) of \(size) bytes from \(inputPosition) of \(input.count)")
        }
        return image
    }

    /// The decoded size the stream's index claims, checked against `limits` — without decoding.
    private static func decodedSize(of input: UnsafeRawBufferPointer, limits: Limits) throws(Failure) -> Int {
        let boundarySize = Int(LZMA_STREAM_HEADER_SIZE)  // the stream header and footer each
        guard input.count >= 2 * boundarySize, let bytes = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw .corrupt("\(input.count) bytes: shorter than an xz stream's header and footer")
        }
        let footerStart = input.count - boundarySize
        var footer = lzma_stream_flags()
        guard lzma_stream_footer_decode(&footer, bytes + footerStart) == LZMA_OK else {
            throw .corrupt("no xz stream footer at the end")
        }
        // The index ends where the footer starts, and the footer gives its length (liblzma has
        // checked that it is a multiple of 4 of at most 16 GiB; here, that it fits the input).
        guard footer.backward_size <= UInt64(footerStart - boundarySize) else {
            throw .corrupt("an index of \(footer.backward_size) bytes in a stream of \(input.count)")
        }
        var position = footerStart - Int(footer.backward_size)
        var index: OpaquePointer?
        var indexBytes = limits.indexBytes
        switch lzma_index_buffer_decode(&index, &indexBytes, nil, bytes, &position, footerStart) {
        case LZMA_OK: break
        case LZMA_MEMLIMIT_ERROR: throw .overLimit("an index needing \(indexBytes) bytes (at most \(limits.indexBytes))")
        default: throw .corrupt("an unreadable index")
        }
        guard let index else { throw .corrupt("an unreadable index") }
        defer { lzma_index_end(index, nil) }
        // One stream filling the input exactly: a stream in front of this one would be decoded
        // first, and its size is not in this index.
        guard position == footerStart, lzma_index_stream_size(index) == UInt64(input.count) else {
            throw .corrupt("not a single xz stream")
        }
        let size = lzma_index_uncompressed_size(index)
        guard size <= UInt64(limits.outputBytes) else {
            throw .overLimit("the index claims \(size) decoded bytes (at most \(limits.outputBytes))")
        }
        guard size > 0 else { throw .corrupt("an empty stream") }
        return Int(size)
    }
}
