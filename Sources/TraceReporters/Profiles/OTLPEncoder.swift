import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// Encodes samples as an OTLP `ExportProfilesServiceRequest` (opentelemetry-proto, profiles
/// `v1development`, the message a collector receives): one resource (`host.name`), one scope, a
/// profile for each origin the samples may have — CPU samples as `samples/count` with period type
/// `cpu/nanoseconds`, off-CPU samples as `off_cpu/nanoseconds` (their time off the CPU) — and
/// the dictionary the profiles refer into. Every dictionary table starts with its zero value, as the format requires, so its
/// indices are `ProfileTables`' ids. Attributes, after upstream's reporter: `thread.name` (comm)
/// and `process.pid` on samples, `profile.frame.type` on locations,
/// `process.executable.build_id.gnu` on mappings whose file has one.
enum OTLPEncoder {
    static func encode(
        _ samples: [ProfileSample], origins: TraceOrigins, frames: InternedFrames, executables: [FileID: ExecutableMetadata],
        period: Int64, timeNanos: UInt64, durationNanos: UInt64
    ) -> [UInt8] {
        var tables = ProfileTables()
        var attributes = AttributeTable()
        var stacks: [[UInt64]] = []
        var stackIDs: [[UInt64]: UInt64] = [:]
        let samplesType = (tables.string("samples"), tables.string("count"))
        let cpuType = (tables.string("cpu"), tables.string("nanoseconds"))
        let offCPUType = (tables.string("off_cpu"), tables.string("nanoseconds"))

        var profiles: [ProtobufWriter] = []
        for origin in origins.origins {
            var profile = ProtobufWriter()
            let sampleType = origin == .sampling ? samplesType : offCPUType
            profile.message(1) { $0.varint(1, sampleType.0); $0.varint(2, sampleType.1) }
            for sample in samples where sample.origin == origin {
                let locationIDs = sample.frames.map { tables.locations(of: $0, in: frames, executables: executables) }
                    ?? [tables.placeholderLocation(named: sample.placeholder ?? "[unknown trace \(sample.traceHash)]")]
                let stack: UInt64
                if let known = stackIDs[locationIDs] {
                    stack = known
                } else {
                    stacks.append(locationIDs)
                    stack = UInt64(stacks.count)
                    stackIDs[locationIDs] = stack
                }
                let sampleAttributes = [
                    attributes.index(key: tables.string("thread.name"), .string(tables.string(sample.comm))),
                    attributes.index(key: tables.string("process.pid"), .int(Int64(sample.pid))),
                ]
                profile.message(2) { message in
                    message.varint(1, stack)
                    message.packed(2, sampleAttributes)
                    message.packed(4, [min(sample.weight, UInt64(Int64.max))])  // int64 values
                }
            }
            profile.fixed64(3, timeNanos)
            profile.varint(4, durationNanos)
            if origin == .sampling {
                profile.message(5) { $0.varint(1, cpuType.0); $0.varint(2, cpuType.1) }
                profile.varint(6, period)
            }
            var random = SystemRandomNumberGenerator()
            let profileID = (0..<2).flatMap { _ in withUnsafeBytes(of: random.next() as UInt64) { Array($0) } }  // 16 bytes
            profile.bytes(7, profileID)
            profiles.append(profile)
        }

        // Attributes the tables' entries carry, interned before the dictionary is written.
        let frameTypeKey = tables.string("profile.frame.type")
        let locationAttributes = tables.locations.map { attributes.index(key: frameTypeKey, .string($0.frameType)) }
        let buildIDKey = tables.string("process.executable.build_id.gnu")
        let mappingAttributes = tables.mappings.map { mapping in
            tables.strings[Int(mapping.buildID)].isEmpty ? [] : [attributes.index(key: buildIDKey, .string(mapping.buildID))]
        }
        let hostKey = tables.string("host.name")
        let scopeName = "swift-tracehandler"

        var dictionary = ProtobufWriter()
        dictionary.message(1) { _ in }  // mapping_table[0]: the zero value
        for (index, mapping) in tables.mappings.enumerated() {
            dictionary.message(1) { message in
                message.varint(1, mapping.key.start)
                message.varint(2, mapping.key.limit)
                message.varint(3, mapping.key.offset)
                message.varint(4, mapping.fileName)
                message.packed(5, mappingAttributes[index])
            }
        }
        dictionary.message(2) { _ in }
        for (index, location) in tables.locations.enumerated() {
            dictionary.message(2) { message in
                message.varint(1, location.mapping)
                message.varint(2, location.address)
                message.message(3) { $0.varint(1, location.function) }
                message.packed(4, [locationAttributes[index]])
            }
        }
        dictionary.message(3) { _ in }
        for name in tables.functions {
            dictionary.message(3) { message in
                message.varint(1, name)
                message.varint(2, name)
            }
        }
        dictionary.message(4) { _ in }  // link_table[0]: no trace links
        for text in tables.strings { dictionary.string(5, text) }
        dictionary.message(6) { _ in }
        for attribute in attributes.entries {
            dictionary.message(6) { message in
                message.varint(1, attribute.key)
                message.message(2) { value in
                    switch attribute.value {
                    case .string(let index): value.string(1, tables.strings[Int(index)])
                    case .int(let number): value.varint(3, number)
                    }
                }
            }
        }
        dictionary.message(7) { _ in }
        for stack in stacks { dictionary.message(7) { $0.packed(1, stack) } }

        var request = ProtobufWriter()
        request.message(1) { resourceProfiles in
            resourceProfiles.message(1) { resource in
                resource.message(1) { attribute in
                    attribute.string(1, tables.strings[Int(hostKey)])
                    attribute.message(2) { $0.string(1, hostName()) }
                }
            }
            resourceProfiles.message(2) { scopeProfiles in
                scopeProfiles.message(1) { $0.string(1, scopeName) }
                for profile in profiles { scopeProfiles.bytes(2, profile.bytes) }
            }
        }
        request.bytes(2, dictionary.bytes)
        return request.bytes
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The dictionary's attribute table: (key, value) pairs interned, numbered from 1 (entry 0 is the
/// zero value).
struct AttributeTable {
    enum Value: Hashable {
        /// A string-table index; written out as the string itself (`AnyValue.string_value`).
        case string(Int64)
        case int(Int64)
    }

    struct Entry: Hashable {
        var key: Int64
        var value: Value
    }

    private(set) var entries: [Entry] = []
    private var ids: [Entry: UInt64] = [:]

    mutating func index(key: Int64, _ value: Value) -> UInt64 {
        let entry = Entry(key: key, value: value)
        if let id = ids[entry] { return id }
        entries.append(entry)
        let id = UInt64(entries.count)
        ids[entry] = id
        return id
    }
}
