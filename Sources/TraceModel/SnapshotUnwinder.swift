internal import CTraceRecord

/// Turns a raw trace record that carries a user stack snapshot (`th_user_snapshot` in
/// trace_record.h: the user registers and a copy of the user stack) into a plain record whose
/// user frames are the unwound stack. The engine's unwind stage calls it on its workers, so the
/// rest of the engine — hashing, caching, symbolization, reporting — sees ordinary traces.
/// One engine at a time uses an unwinder (`prepare` sets up its workers' state).
public protocol SnapshotUnwinder: AnyObject, Sendable {
    /// Called once, before the workers start, with their number. State kept per worker (caches
    /// without locks) is then touched only by that worker's thread.
    func prepare(workers: Int)

    /// Rewrites the record in `record` in place: its header and kernel frames stay, its user
    /// frames become the unwound stack (or stay the frame-pointer stack, when that is better),
    /// and the snapshot is dropped. Returns the new byte count and how the walk ended. `record`
    /// is the worker's until it returns; `byteCount` bytes of it are the record as received.
    func unwind(record: UnsafeMutableRawBufferPointer, byteCount: Int, worker: Int) -> UnwindOutcome
}

/// How one snapshot's walk ended (the unwind stage counts each).
public enum UnwindStop: UInt8, Sendable, Hashable, CaseIterable {
    /// The walk reached the outermost frame: the stack is whole.
    case complete
    /// A PC lay in no mapping the unwinder could use (anonymous code, a vanished process).
    case noMapping
    /// The file mapped at a PC has no CFI row for it.
    case noRule
    /// The row for a PC is of a form the unwinder does not follow.
    case unsupportedRule
    /// A return address lay above the copied window: the snapshot was too short.
    case snapshotTooShort
    /// The frame limit was reached.
    case frameLimit
    /// The registers or stack led nowhere sensible (SP not increasing, a loop).
    case badFrame
    /// The record's snapshot could not be read (sizes that do not add up): the record went on
    /// with its frame-pointer stack.
    case malformedSnapshot
}

/// What `SnapshotUnwinder.unwind` did to one record.
public struct UnwindOutcome: Sendable, Hashable {
    /// The rewritten record's size in bytes (header and frames).
    public var byteCount: Int
    /// How the walk ended.
    public var stop: UnwindStop
    /// The frame-pointer stack was kept because the walk found fewer frames than it.
    public var keptFramePointerStack: Bool

    /// What one `unwind` call did: the record's new size in bytes, how the walk ended, and whether
    /// the frame-pointer stack was kept.
    public init(byteCount: Int, stop: UnwindStop, keptFramePointerStack: Bool) {
        self.byteCount = byteCount
        self.stop = stop
        self.keptFramePointerStack = keptFramePointerStack
    }
}

extension RawTrace {
    /// The largest record the sampler sends (128 frames and the largest snapshot).
    /// (`TH_TRACE_RECORD_MAX_SIZE`, a function-like macro Swift does not import.)
    public static let maximumRecordBytes = headerSize + maxFrames * frameSize + snapshotHeaderSize + Int(TH_USER_SNAPSHOT_MAX_BYTES)
    /// The snapshot header: user IP, SP, BP, the stack's byte count and flags.
    public static let snapshotHeaderSize = Int(TH_USER_SNAPSHOT_HEADER_SIZE)

    /// Whether a record as delivered carries a user stack snapshot after its frames
    /// (`TH_RECORD_HAS_SNAPSHOT`: at least a snapshot header's bytes past the used frames).
    public static func carriesSnapshot(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= headerSize else { return false }
        let kernel = Int(bytes.loadUnaligned(fromByteOffset: Int(TH_OFFSET_KERNEL_FRAME_COUNT), as: UInt16.self))
        let user = Int(bytes.loadUnaligned(fromByteOffset: Int(TH_OFFSET_USER_FRAME_COUNT), as: UInt16.self))
        return bytes.count >= headerSize + (kernel + user) * frameSize + snapshotHeaderSize
    }
}
