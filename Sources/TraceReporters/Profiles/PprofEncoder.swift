import TraceModel

/// Encodes samples as a pprof `Profile` (github.com/google/pprof, proto/profile.proto), with the
/// labels `comm` and `pid`; mappings carry file name and build id, and say `has_functions`.
/// The values are `samples/count`, then for each origin the profile holds its time: CPU samples
/// of `period` nanoseconds each (`cpu/nanoseconds`), off-CPU samples their time off the CPU
/// (`off_cpu/nanoseconds`, pprof's default when present: the last type). A profile of both
/// origins also labels each sample `origin` (`cpu`, `off-cpu`).
enum PprofEncoder {
    static func encode(
        _ samples: [ProfileSample], origins: TraceOrigins, frames: InternedFrames, executables: [FileID: ExecutableMetadata],
        period: Int64, timeNanos: Int64, durationNanos: Int64
    ) -> [UInt8] {
        var tables = ProfileTables()
        let samplesType = (tables.string("samples"), tables.string("count"))
        let nanoseconds = tables.string("nanoseconds")
        let timeOrigins = origins.origins
        let timeTypes = timeOrigins.map { (tables.string($0 == .sampling ? "cpu" : "off_cpu"), nanoseconds) }
        let commKey = tables.string("comm")
        let pidKey = tables.string("pid")
        let originKey = timeOrigins.count > 1 ? tables.string("origin") : nil
        // One buffer for every sample's values: the encoder allocates nothing per sample for them.
        var values: [UInt64] = []
        values.reserveCapacity(1 + timeOrigins.count)
        var profile = ProtobufWriter()
        for (type, unit) in [samplesType] + timeTypes {
            profile.message(1) { $0.varint(1, type); $0.varint(2, unit) }
        }
        for sample in samples {
            let locationIDs = sample.frames.map { tables.locations(of: $0, in: frames, executables: executables) }
                ?? [tables.placeholderLocation(named: sample.placeholder ?? "[unknown trace \(sample.traceHash)]")]
            let comm = tables.string(sample.comm)
            // pprof's values are int64: a sum that saturated stays the largest of those.
            values.removeAll(keepingCapacity: true)
            values.append(min(sample.count, UInt64(Int64.max)))
            for origin in timeOrigins {
                let time = origin != sample.origin ? 0
                    : origin == .offCPU ? sample.totals.offTime : sample.count.multipliedSaturating(by: UInt64(period))
                values.append(min(time, UInt64(Int64.max)))
            }
            let originName = originKey.map { _ in tables.string(sample.origin == .sampling ? "cpu" : "off-cpu") }
            profile.message(2) { message in
                message.packed(1, locationIDs)
                message.packed(2, values)
                message.message(3) { $0.varint(1, commKey); $0.varint(2, comm) }
                message.message(3) { $0.varint(1, pidKey); $0.varint(3, UInt64(sample.pid)) }
                if let originKey, let originName { message.message(3) { $0.varint(1, originKey); $0.varint(2, originName) } }
            }
        }
        for (index, mapping) in tables.mappings.enumerated() {
            profile.message(3) { message in
                message.varint(1, UInt64(index + 1))
                message.varint(2, mapping.key.start)
                message.varint(3, mapping.key.limit)
                message.varint(4, mapping.key.offset)
                message.varint(5, mapping.fileName)
                message.varint(6, mapping.buildID)
                message.bool(7, true)
            }
        }
        for (index, location) in tables.locations.enumerated() {
            profile.message(4) { message in
                message.varint(1, UInt64(index + 1))
                message.varint(2, location.mapping)
                message.varint(3, location.address)
                message.message(4) { $0.varint(1, location.function) }
            }
        }
        for (index, name) in tables.functions.enumerated() {
            profile.message(5) { message in
                message.varint(1, UInt64(index + 1))
                message.varint(2, name)
                message.varint(3, name)
            }
        }
        for text in tables.strings { profile.string(6, text) }
        profile.varint(9, timeNanos)
        profile.varint(10, durationNanos)
        // The period is the CPU sampler's; a profile of off-CPU samples alone has none.
        let periodType = timeTypes[0]
        profile.message(11) { $0.varint(1, periodType.0); $0.varint(2, periodType.1) }
        if origins.contains(.cpu) { profile.varint(12, period) }
        return profile.bytes
    }
}
