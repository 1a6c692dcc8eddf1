import TraceModel

/// Encodes samples as a pprof `Profile` (github.com/google/pprof, proto/profile.proto): CPU
/// samples of `period` nanoseconds, with the values `samples/count` and `cpu/nanoseconds` and the
/// labels `comm` and `pid`; mappings carry file name and build id, and say `has_functions`.
enum PprofEncoder {
    static func encode(
        _ samples: [ProfileSample], frames: InternedFrames, executables: [FileID: ExecutableMetadata], period: Int64, timeNanos: Int64, durationNanos: Int64
    ) -> [UInt8] {
        var tables = ProfileTables()
        let samplesType = (tables.string("samples"), tables.string("count"))
        let cpuType = (tables.string("cpu"), tables.string("nanoseconds"))
        let commKey = tables.string("comm")
        let pidKey = tables.string("pid")
        var profile = ProtobufWriter()
        for (type, unit) in [samplesType, cpuType] {
            profile.message(1) { $0.varint(1, type); $0.varint(2, unit) }
        }
        for sample in samples {
            let locationIDs = sample.frames.map { tables.locations(of: $0, in: frames, executables: executables) }
                ?? [tables.placeholderLocation(named: sample.placeholder ?? "[unknown trace \(sample.traceHash)]")]
            let comm = tables.string(sample.comm)
            profile.message(2) { message in
                message.packed(1, locationIDs)
                message.packed(2, [sample.count, sample.count &* UInt64(period)])
                message.message(3) { $0.varint(1, commKey); $0.varint(2, comm) }
                message.message(3) { $0.varint(1, pidKey); $0.varint(3, UInt64(sample.pid)) }
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
        profile.message(11) { $0.varint(1, cpuType.0); $0.varint(2, cpuType.1) }
        profile.varint(12, period)
        return profile.bytes
    }
}
