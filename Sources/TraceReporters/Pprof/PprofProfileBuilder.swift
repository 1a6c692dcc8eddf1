import TraceModel

/// One aggregated sample of a pprof profile: a stack of a comm and pid, and how often it was seen.
struct PprofSample {
    var comm: String
    var pid: UInt32
    /// The converted trace, or nil when its frames never reached the reporter.
    var trace: Trace?
    var traceHash: TraceHash
    var count: UInt64
}

/// Builds a pprof `Profile` message (github.com/google/pprof, proto/profile.proto): interns
/// strings, mappings, functions and locations, then encodes.
///
/// As upstream's pprof reporter does, a native location's address is the frame's address in the
/// converted trace (the ELF virtual address for a named frame, so one function has one address in
/// every process) and its mapping is the process's mapping (start, limit, file offset) with the
/// file's name and build id; every function is already named (`has_functions`), so pprof does not
/// try to symbolize. Kernel frames share one `[kernel.kallsyms]` mapping.
struct PprofProfileBuilder {
    private var strings: [String] = [""]
    private var stringIDs: [String: Int64] = ["": 0]
    private var mappings: [Mapping] = []
    private var mappingIDs: [MappingKey: UInt64] = [:]
    private var functions: [Int64] = []  // name string per function id - 1
    private var functionIDs: [Int64: UInt64] = [:]
    private var locations: [Location] = []
    private var locationIDs: [Location: UInt64] = [:]

    private struct MappingKey: Hashable {
        var file: FileID
        var start: UInt64
        var limit: UInt64
        var offset: UInt64
    }

    private struct Mapping {
        var key: MappingKey
        var fileName: Int64
        var buildID: Int64
    }

    private struct Location: Hashable {
        var mapping: UInt64
        var address: UInt64
        var function: UInt64
    }

    private mutating func string(_ text: String) -> Int64 {
        if let id = stringIDs[text] { return id }
        let id = Int64(strings.count)
        strings.append(text)
        stringIDs[text] = id
        return id
    }

    /// The location ids of a trace's frames, leaf first (pprof's order, and the trace's).
    private mutating func locations(of trace: Trace, executables: [FileID: ExecutableMetadata]) -> [UInt64] {
        (0..<trace.frameCount).map { location(of: trace, at: $0, executables: executables) }
    }

    /// A location that only names a trace whose frames are unknown.
    private mutating func placeholderLocation(named name: String) -> UInt64 {
        intern(Location(mapping: 0, address: 0, function: function(named: name)))
    }

    private mutating func location(of trace: Trace, at index: Int, executables: [FileID: ExecutableMetadata]) -> UInt64 {
        let type = trace.frameTypes[index]
        let file = trace.files[index]
        let address = trace.linenos[index]
        let name = trace.symbols[index] ?? "0x" + String(address, radix: 16)
        let mapping: UInt64
        if type.interpreter == .kernel {
            mapping = self.mapping(MappingKey(file: file, start: 0, limit: 0, offset: 0), fileName: "[kernel.kallsyms]", buildID: nil)
        } else {
            let executable = executables[file]
            mapping = self.mapping(
                MappingKey(file: file, start: trace.mappingStarts[index], limit: trace.mappingEnds[index], offset: trace.mappingFileOffsets[index]),
                fileName: executable?.fileName ?? "[unknown]", buildID: executable?.buildID)
        }
        return intern(Location(mapping: mapping, address: address, function: function(named: name)))
    }

    private mutating func mapping(_ key: MappingKey, fileName: String, buildID: String?) -> UInt64 {
        if let id = mappingIDs[key] { return id }
        mappings.append(Mapping(key: key, fileName: string(fileName), buildID: string(buildID ?? "")))
        let id = UInt64(mappings.count)
        mappingIDs[key] = id
        return id
    }

    private mutating func function(named name: String) -> UInt64 {
        let nameID = string(name)
        if let id = functionIDs[nameID] { return id }
        functions.append(nameID)
        let id = UInt64(functions.count)
        functionIDs[nameID] = id
        return id
    }

    private mutating func intern(_ location: Location) -> UInt64 {
        if let id = locationIDs[location] { return id }
        locations.append(location)
        let id = UInt64(locations.count)
        locationIDs[location] = id
        return id
    }

    /// The encoded profile: samples of CPU time, `period` nanoseconds a sample, with the values
    /// `samples/count` and `cpu/nanoseconds` and the labels `comm` and `pid`.
    mutating func encode(
        samples: [PprofSample], executables: [FileID: ExecutableMetadata], period: Int64, timeNanos: Int64, durationNanos: Int64
    ) -> [UInt8] {
        let samplesType = (string("samples"), string("count"))
        let cpuType = (string("cpu"), string("nanoseconds"))
        let commKey = string("comm")
        let pidKey = string("pid")
        var profile = ProtobufWriter()
        for (type, unit) in [samplesType, cpuType] {
            profile.message(1) { $0.varint(1, type); $0.varint(2, unit) }
        }
        for sample in samples {
            let locationIDs = sample.trace.map { locations(of: $0, executables: executables) }
                ?? [placeholderLocation(named: "[unknown trace \(sample.traceHash)]")]
            let comm = string(sample.comm)
            profile.message(2) { message in
                message.packed(1, locationIDs)
                message.packed(2, [sample.count, sample.count &* UInt64(period)])
                message.message(3) { $0.varint(1, commKey); $0.varint(2, comm) }
                message.message(3) { $0.varint(1, pidKey); $0.varint(3, UInt64(sample.pid)) }
            }
        }
        for (index, mapping) in mappings.enumerated() {
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
        for (index, location) in locations.enumerated() {
            profile.message(4) { message in
                message.varint(1, UInt64(index + 1))
                message.varint(2, location.mapping)
                message.varint(3, location.address)
                message.message(4) { $0.varint(1, location.function) }
            }
        }
        for (index, name) in functions.enumerated() {
            profile.message(5) { message in
                message.varint(1, UInt64(index + 1))
                message.varint(2, name)
                message.varint(3, name)
            }
        }
        for text in strings { profile.string(6, text) }
        profile.varint(9, timeNanos)
        profile.varint(10, durationNanos)
        profile.message(11) { $0.varint(1, cpuType.0); $0.varint(2, cpuType.1) }
        profile.varint(12, period)
        return profile.bytes
    }
}
