import FuzzSupport
import KernelPath
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

// The input is a script of what the kernel does to one perf buffer, with the reader draining in
// between: well-formed samples and LOST notices (wrapping at the end of the data area, as the
// kernel writes them), garbage headers, heads published late, early or anywhere, and records
// overwritten under the reader. `PerfRingReader` claims it never reads outside the buffer and
// never loops, whatever the headers say; ASan checks the first, libFuzzer's timeout the second.

/// `struct perf_event_mmap_page`'s `data_head` and `data_tail` (kernel UAPI, fixed): the main
/// package's CLinuxShims names them, but it is no product this package can import.
private let dataHeadOffset = 1024
private let dataTailOffset = 1032

/// `FUZZ_FAITHFUL_KERNEL=1`: the kernel does only what the real one does (well-formed records
/// that fit, 8-aligned heads, lost counts of a realistic size), so that fuzzing goes on past
/// findings that need a hostile one. By default it may write and publish anything.
private let faithful = getenv("FUZZ_FAITHFUL_KERNEL") != nil

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPerfRing(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(UnsafeRawBufferPointer(start: start, count: count))
    let kernel = FakePerfKernel(dataSize: 8 << input.below(14), start: input.read(UInt64.self) & ~7)
    let reader = PerfRingReader(metadata: kernel.metadata, data: UnsafeRawBufferPointer(kernel.data))
    while !input.isEmpty {
        switch input.below(9) {
        case 0:
            // PERF_RECORD_SAMPLE with PERF_SAMPLE_RAW: header, u32 size, bytes padded to 8.
            let payload = input.take(input.below(1 << 15))
            let size = (8 + 4 + payload.count + 7) & ~7
            guard kernel.fits(size) else { break }
            kernel.writeHeader(type: 9, misc: 0, size: UInt16(truncatingIfNeeded: size))
            kernel.write(UInt32(payload.count))
            kernel.write(payload)
            kernel.writeZeros(size - 12 - payload.count)
        case 1:
            // PERF_RECORD_LOST: header, id, count.
            guard kernel.fits(24) else { break }
            kernel.writeHeader(type: 2, misc: 0, size: 24)
            kernel.write(input.read(UInt64.self))
            kernel.write(faithful ? UInt64(input.read(UInt32.self)) : input.read(UInt64.self))
        case 2 where !faithful:
            // A header with any fields, a body from the input, the head moved by any 8-aligned step.
            kernel.writeHeader(type: input.read(UInt32.self), misc: input.read(UInt16.self), size: input.read(UInt16.self))
            kernel.write(input.take(input.below(64)))
            kernel.head = kernel.head &+ UInt64(8 * input.below(64))
        case 3:
            kernel.publish()
        case 4, 5:
            drain(reader, kernel, maxRecords: input.below(9) == 8 ? Int.max : input.below(16), acceptSamples: input.below(16))
        case 6 where !faithful:
            // Any head: unaligned, behind the tail, far ahead of it.
            kernel.head = kernel.tail &+ input.read(UInt64.self)
            kernel.publish()
        case 7 where !faithful:
            // The kernel overwrites bytes the reader may not have read yet (a buggy or racing
            // producer): the reader sees whatever is there.
            let offset = input.below(kernel.data.count)
            for byte in input.take(input.below(32)) { kernel.data[(offset + Int(byte)) % kernel.data.count] = byte }
        case 8:
            // Another record type the reader skips (PERF_RECORD_THROTTLE's 24 bytes, say).
            guard kernel.fits(24) else { break }
            kernel.writeHeader(type: 5, misc: 0, size: 24)
            kernel.writeZeros(16)
        default:
            break
        }
    }
    kernel.publish()
    drain(reader, kernel, maxRecords: Int.max, acceptSamples: Int.max)
    return 0
}

/// Drains and checks what the reader did: every sample lies in memory ASan knows (all bytes are
/// read), and the tail moved only forward, and never past the head it saw.
private func drain(_ reader: PerfRingReader, _ kernel: FakePerfKernel, maxRecords: Int, acceptSamples: Int) {
    let before = kernel.tail
    let published = kernel.publishedHead
    var accepted = 0
    var sink = SampleSink()
    reader.drain(maxRecords: maxRecords) { sample in
        guard accepted < acceptSamples else { return false }
        accepted += 1
        precondition(sample.count <= 1 << 16, "a sample of \(sample.count) bytes from a 16-bit record size")
        sink.take(sample)  // what the engine does next with it
        return true
    }
    let moved = kernel.tail &- before
    precondition(moved <= published &- before || kernel.tail == published, "tail \(kernel.tail) moved past head \(published) from \(before)")
    sink.finish()
}

/// The kernel's side: the metadata page and the data area in plain memory.
private final class FakePerfKernel {
    let metadata: UnsafeMutableRawPointer
    let data: UnsafeMutableRawBufferPointer
    /// Where the kernel writes next (published only by `publish`).
    var head: UInt64

    init(dataSize: Int, start: UInt64) {
        metadata = .allocate(byteCount: 4096, alignment: 4096)
        metadata.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        data = .allocate(byteCount: dataSize, alignment: 8)
        data.initializeMemory(as: UInt8.self, repeating: 0)
        head = start
        metadata.storeBytes(of: start, toByteOffset: dataHeadOffset, as: UInt64.self)
        metadata.storeBytes(of: start, toByteOffset: dataTailOffset, as: UInt64.self)
    }

    deinit {
        metadata.deallocate()
        data.deallocate()
    }

    var tail: UInt64 { metadata.load(fromByteOffset: dataTailOffset, as: UInt64.self) }
    var publishedHead: UInt64 { metadata.load(fromByteOffset: dataHeadOffset, as: UInt64.self) }

    /// Whether a faithful kernel has room for `size` more bytes (it drops a record that does not
    /// fit, and counts it lost); a hostile one writes over unread records.
    func fits(_ size: Int) -> Bool {
        !faithful || head &- tail &+ UInt64(size) <= UInt64(data.count)
    }

    func publish() { metadata.storeBytes(of: head, toByteOffset: dataHeadOffset, as: UInt64.self) }

    func write(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            data[Int(head & UInt64(data.count - 1))] = byte
            head &+= 1
        }
    }

    func write<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { write($0) } }

    func writeZeros(_ count: Int) {
        for _ in 0..<max(count, 0) { write(UInt8(0)) }
    }

    func writeHeader(type: UInt32, misc: UInt16, size: UInt16) {
        write(type)
        write(misc)
        write(size)
    }
}
