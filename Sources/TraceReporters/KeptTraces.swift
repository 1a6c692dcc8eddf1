import TraceModel

/// The traces a reporter keeps by hash, as frame ids into their `InternedFrames`, within the
/// profile's bound. A hash's first frames are kept: the hash covers each frame's file, address
/// and type, so a later report of it can differ only in what the outputs print beside them (a
/// name after kallsyms was read again, `[exited]` where the process had gone, the mapping's range).
struct KeptTraces: Sendable {
    private(set) var ids: [TraceHash: [UInt32]] = [:]
    private(set) var frames = InternedFrames()

    var count: Int { ids.count }

    func contains(_ hash: TraceHash) -> Bool { ids[hash] != nil }

    subscript(hash: TraceHash) -> [UInt32]? { ids[hash] }

    /// Keeps `trace` unless its hash is kept already or the bound is reached.
    mutating func keep(_ trace: Trace, within bound: ProfileBound) {
        guard ids[trace.hash] == nil, bound.admitsNewTrace(kept: ids.count) else { return }
        ids[trace.hash] = frames.intern(trace)
    }
}
