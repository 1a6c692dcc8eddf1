import FuzzSupport
import Symbolization
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

// The input is one raw trace record as the BPF side delivers it (perf pads it; the sampler may
// append a user stack snapshot). The engine's path for it:
// - `RawTrace(parsing:)` must accept it or throw, and what it accepts must encode back to a
//   record that parses to the same trace (same hash, same frames);
// - `RawTrace.carriesSnapshot` decides whether the unwind stage sees it; if so,
//   `DWARFUnwinder.unwind` reads the snapshot's header and stack and walks it with the real
//   unwind tables of this process (the record's pid is made ours, and its IP is moved into our
//   own code, so walks start on real rules instead of ending at "no mapping").

/// The unwinder, built once: its caches (this process's maps, the tables of our own binary and
/// libraries) persist across inputs as they persist across samples in the agent.
private let unwinder: DWARFUnwinder = {
    var configuration = UnwinderConfiguration()
    configuration.debugDirectories = []  // no search of /usr/lib/debug per fuzz run
    let unwinder = try! DWARFUnwinder(configuration: configuration)
    unwinder.prepare(workers: 1)
    return unwinder
}()

/// An address in our own code, to which the input's IP is added as an offset.
private let codeAnchor = UInt64(unsafeBitCast(fuzzRawTrace as @convention(c) (UnsafeRawPointer, Int) -> CInt, to: UInt.self))

/// Offsets in `th_trace_record` and `th_user_snapshot` (CTraceRecord's trace_record.h; that
/// module is no product this package can import).
private let pidOffset = 0
private let kernelFrameCountOffset = 12
private let userFrameCountOffset = 14
private let snapshotIPOffset = 0

/// The unwinder's working copy of each input (libFuzzer runs one input at a time, on one thread).
nonisolated(unsafe) private let record = UnsafeMutableRawBufferPointer.allocate(byteCount: RawTrace.maximumRecordBytes + 64, alignment: 16)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRawTrace(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    roundTrip(bytes)
    guard RawTrace.carriesSnapshot(bytes) else { return 0 }
    // The unwinder rewrites the record in place, as the unwind stage does in its slot.
    guard count <= record.count else { return 0 }
    record.copyMemory(from: bytes)
    record.storeBytes(of: UInt32(getpid()), toByteOffset: pidOffset, as: UInt32.self)
    let frames = Int(record.loadUnaligned(fromByteOffset: kernelFrameCountOffset, as: UInt16.self))
        + Int(record.loadUnaligned(fromByteOffset: userFrameCountOffset, as: UInt16.self))
    let snapshot = RawTrace.headerSize + frames * RawTrace.frameSize
    if snapshot + 8 <= count {
        let offset = record.loadUnaligned(fromByteOffset: snapshot + snapshotIPOffset, as: UInt64.self) & 0xF_FFFF
        record.storeBytes(of: codeAnchor &+ offset, toByteOffset: snapshot + snapshotIPOffset, as: UInt64.self)
    }
    let outcome = unwinder.unwind(record: record, byteCount: count, worker: 0)
    precondition(outcome.byteCount >= RawTrace.headerSize && outcome.byteCount <= max(count, RawTrace.headerSize + RawTrace.maxFrames * RawTrace.frameSize),
                 "unwind left a record of \(outcome.byteCount) bytes from \(count)")
    if !outcome.keptFramePointerStack {
        // What the unwinder wrote must be a record the engine can parse, unless the header it
        // kept was never valid (an unknown origin: the unwinder rewrites frames, not the header;
        // the engine counts such a record as malformed after unwinding, as it would before).
        do {
            _ = try RawTrace(parsing: UnsafeRawBufferPointer(rebasing: record[..<outcome.byteCount]))
        } catch .unknownOrigin {
        } catch {
            preconditionFailure("the unwinder wrote a record that does not parse: \(error)")
        }
    }
    return 0
}

private func roundTrip(_ bytes: UnsafeRawBufferPointer) {
    guard let trace = try? RawTrace(parsing: bytes) else { return }
    precondition(trace.encodedByteCount <= bytes.count, "parsed \(trace.encodedByteCount) bytes from \(bytes.count)")
    let encoded = UnsafeMutableRawBufferPointer.allocate(byteCount: trace.encodedByteCount, alignment: 16)
    defer { encoded.deallocate() }
    precondition(trace.encode(into: encoded) == trace.encodedByteCount)
    let again: RawTrace
    do {
        again = try RawTrace(parsing: UnsafeRawBufferPointer(encoded))
    } catch {
        preconditionFailure("an encoded trace does not parse: \(error)")
    }
    precondition(again.hash == trace.hash && again.frames == trace.frames && again.pid == trace.pid && again.tid == trace.tid
                 && again.ktime == trace.ktime && again.cpu == trace.cpu && again.comm == trace.comm,
                 "a trace changed through encode and parse")
}
