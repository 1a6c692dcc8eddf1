import TraceModel

/// Folds aggregated samples into flamegraph.pl's lines, `comm;root;…;leaf`, each with its weight
/// (a count of samples, or microseconds off the CPU): what `FoldedStacksReporter` and an
/// interval's folded output print alike.
enum StackFolding {
    /// One aggregated sample to fold: its frames (ids into the `InternedFrames`, leaf first), or
    /// nil when they never arrived (`[unknown trace HASH]`).
    struct Entry {
        var comm: String
        var frames: [UInt32]?
        var hash: TraceHash
        var count: UInt64
    }

    /// The lines before their counts, most samples first (ties in text order). Traces that fold to
    /// the same text — the same functions at different instructions, which hash apart — are one
    /// line; `overflow` samples are one `[overflow]` line.
    /// `entry` turns each element into what is folded (nil: left out); it does not escape, so a
    /// render allocates no closure context.
    static func fold<Elements: Sequence>(
        _ elements: Elements, frames: InternedFrames, overflow: UInt64, capacity: Int, entry: (Elements.Element) -> Entry?
    ) -> [(stack: String, count: UInt64)] {
        // Each frame's text once; each stack's as its line (a trace met under several comms is
        // folded once for each: rare, and cheaper than keeping every fold).
        let names = frames.frames.map { FrameNames.name(frames.names[Int($0.name)], type: $0.type) }
        var lines: [String: UInt64] = [:]
        lines.reserveCapacity(capacity + 1)
        if overflow > 0 { lines["[overflow];" + ProfileBound.overflowFrame] = overflow }
        for element in elements {
            guard let entry = entry(element) else { continue }
            var line = FrameNames.sanitized(entry.comm)
            if let ids = entry.frames {
                // One allocation a line, with room for the count a writer appends.
                line.reserveCapacity(ids.reduce(line.utf8.count + 24) { $0 + 1 + names[Int($1)].utf8.count })
                for id in ids.reversed() {
                    line += ";"
                    line += names[Int(id)]
                }
            } else {
                line += ";[unknown trace \(entry.hash)]"
            }
            lines[line, default: 0] += entry.count
        }
        return lines.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { (stack: $0.key, count: $0.value) }
    }

    /// What a folded line of `origin` weighs: samples on the CPU, microseconds off it (rounded to
    /// the nearest, and at least 1 for any time, so that no stack that waited disappears).
    static func weight(_ totals: SampleTotals?, origin: TraceOrigin) -> UInt64 {
        guard let totals else { return 0 }
        guard origin == .offCPU else { return totals.count }
        if totals.offTime == 0 { return 0 }
        return max(1, totals.offTime / 1000 + (totals.offTime % 1000 >= 500 ? 1 : 0))
    }
}
