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
        /// Samples, or for off-CPU lines nanoseconds (`raw`): weighed once per line.
        var count: UInt64
    }

    /// The lines before their counts, most samples first (ties in text order). Traces that fold to
    /// the same text — the same functions at different instructions, which hash apart — are one
    /// line; `overflow` samples are one `[overflow]` line.
    /// `entry` turns each element into what is folded (nil: left out); it does not escape, so a
    /// render allocates no closure context.
    static func fold<Elements: Sequence>(
        _ elements: Elements, frames: InternedFrames, overflow: UInt64, capacity: Int, origin: TraceOrigin = .sampling,
        entry: (Elements.Element) -> Entry?
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
            lines[line, default: 0] = lines[line, default: 0].addingSaturating(entry.count)
        }
        return lines.map { (stack: $0.key, count: weight($0.value, origin: origin)) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.stack < $1.stack }
    }

    /// The samples of `origin` among `counts` (keyed by comm, trace and origin, their frames in
    /// `traces`) folded, and `overflow`'s `[overflow]` line: what the reporters that keep traces
    /// as they come (`FoldedStacksReporter`, `ProfileReporter`) render alike.
    static func fold<Key: FoldedKey>(
        _ counts: [Key: SampleTotals], traces: KeptTraces, overflow: OverflowTotals, origin: TraceOrigin
    ) -> [(stack: String, count: UInt64)] {
        fold(counts, frames: traces.frames, overflow: raw(overflow[origin], origin: origin), capacity: counts.count, origin: origin) {
            key, totals in
            key.origin != origin
                ? nil : Entry(comm: key.comm.description, frames: traces[key.hash], hash: key.hash, count: raw(totals, origin: origin))
        }
    }

    /// What a sample of `origin` adds to its line before the line is weighed: its count on the
    /// CPU, its nanoseconds off it.
    static func raw(_ totals: SampleTotals?, origin: TraceOrigin) -> UInt64 {
        guard let totals else { return 0 }
        return origin == .offCPU ? totals.offTime : totals.count
    }

    /// What a folded line of `origin` weighs, from its summed raw weight: samples on the CPU,
    /// microseconds off it (rounded to the nearest, and at least 1 for any time, so that no stack
    /// that waited disappears).
    private static func weight(_ raw: UInt64, origin: TraceOrigin) -> UInt64 {
        guard origin == .offCPU, raw > 0 else { return raw }
        return max(1, raw / 1000 + (raw % 1000 >= 500 ? 1 : 0))
    }
}

/// A reporter's key for aggregated samples that fold into a line: a trace of a comm, on or off the
/// CPU.
protocol FoldedKey: Hashable {
    var comm: Comm { get }
    var hash: TraceHash { get }
    var origin: TraceOrigin { get }
}
