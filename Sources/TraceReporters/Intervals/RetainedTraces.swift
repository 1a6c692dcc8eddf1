import TraceModel

/// The frames of the traces a continuous profile has met, kept across its intervals.
///
/// The engine reports a trace's frames once, while the trace stays in its caches, and from then on
/// only counts; an interval's counts therefore name traces whose frames came intervals ago. The
/// traces are kept least recently used first out (a count or a frames report is a use), at most
/// `capacity`: sized past the engine's caches (`cache.size` each), a trace still counted by the
/// engine is still here. One that is not shows as `[unknown trace HASH]`, counted as such.
///
/// Frames of traces no longer kept stay interned until `compactIfWasteful()` moves the kept
/// traces' frames into fresh storage: memory is bounded by the kept traces, not by the run's length.
struct RetainedTraces {
    private var ids: LRUCache<TraceHash, [UInt32]>
    private(set) var frames = InternedFrames()
    /// Interned frames after the last compaction: the next one waits until there are twice as many.
    private var framesAfterCompaction = 0

    /// Traces kept beyond this many evict the least recently used. At least 1.
    init(capacity: Int) {
        ids = LRUCache(capacity: capacity)
    }

    var count: Int { ids.count }

    /// Keeps `trace`'s frames (the first report of a hash is kept: its frames do not change) and
    /// marks it used.
    mutating func keep(_ trace: Trace) {
        if ids.get(trace.hash) == nil { ids.add(trace.hash, frames.intern(trace)) }
    }

    /// Marks the trace used: a count of it arrived. False when its frames are not kept.
    mutating func use(_ hash: TraceHash) -> Bool { ids.get(hash) != nil }

    /// The trace's frame ids, leaf first, without marking it used.
    subscript(hash: TraceHash) -> [UInt32]? { ids.peek(hash) }

    /// Moves the kept traces' frames into fresh storage when at least half of the interned frames
    /// belong to traces no longer kept (and there are enough of them to be worth the pass).
    /// Renumbers frame ids: resolve an interval's samples before calling it.
    mutating func compactIfWasteful(minimumFrames: Int = 4096) {
        guard frames.frames.count > max(2 * framesAfterCompaction, minimumFrames) else { return }
        var moved = InternedFrames()
        var kept = LRUCache<TraceHash, [UInt32]>(capacity: ids.capacity)
        // Oldest first, so that the fresh cache keeps the same order of use.
        for hash in ids.keysNewestFirst.reversed() {
            guard let old = ids.peek(hash) else { continue }
            kept.add(hash, old.map { moved.intern($0, of: frames) })
        }
        ids = kept
        frames = moved
        framesAfterCompaction = moved.frames.count
    }
}
