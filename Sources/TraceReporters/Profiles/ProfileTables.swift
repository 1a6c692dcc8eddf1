import TraceModel

/// What a profile counts samples by: a stack of a comm and pid, on or off the CPU.
struct SampleKey: FoldedKey {
    var comm: Comm
    var pid: UInt32
    var hash: TraceHash
    var origin: TraceOrigin

    init(_ meta: TraceEventMeta, _ hash: TraceHash) {
        comm = meta.comm
        pid = meta.pid
        self.hash = hash
        origin = meta.origin
    }

    /// One word into the hasher: the trace hash is already uniform (XXH3), and this is hashed
    /// once a sample.
    func hash(into hasher: inout Hasher) {
        hasher.combine(hash.low ^ comm.hashWord ^ UInt64(pid) ^ UInt64(origin.rawValue) << 32)
    }
}

/// What a profile sums for one key: samples, and for off-CPU samples the nanoseconds off the CPU.
/// Sums saturate: off-CPU times come from the kernel.
struct SampleTotals: Hashable, Sendable {
    var count: UInt64 = 0
    var offTime: UInt64 = 0

    mutating func add(_ samples: UInt64, offTime: UInt64) {
        count = count.addingSaturating(samples)
        self.offTime = self.offTime.addingSaturating(offTime)
    }

    mutating func add(_ other: SampleTotals) { add(other.count, offTime: other.offTime) }
}

/// One aggregated sample of a profile: a stack of a comm and pid, on or off the CPU, and how
/// often (and, off the CPU, how long) it was seen.
struct ProfileSample {
    var comm: String
    var pid: UInt32
    /// The trace's frame ids (`InternedFrames`, leaf first), or nil when its frames never
    /// reached the reporter.
    var frames: [UInt32]?
    var traceHash: TraceHash
    var origin: TraceOrigin = .sampling
    var totals: SampleTotals
    /// The one frame's name when `frames` is nil; nil: `[unknown trace HASH]`.
    var placeholder: String? = nil

    var count: UInt64 { totals.count }

    /// What the sample weighs in its origin's unit: samples on the CPU, nanoseconds off it.
    var weight: UInt64 { origin == .offCPU ? totals.offTime : totals.count }

    /// The entry of the samples of `origin` beyond a profile's bound.
    static func overflow(_ totals: SampleTotals, origin: TraceOrigin) -> ProfileSample {
        ProfileSample(comm: "[overflow]", pid: 0, frames: nil, traceHash: TraceHash(high: 0, low: 0), origin: origin, totals: totals,
                      placeholder: ProfileBound.overflowFrame)
    }

    /// The order profiles list samples in: CPU samples first, each origin heaviest first, then by
    /// pid and comm.
    static func mostFrequentFirst(_ samples: [ProfileSample]) -> [ProfileSample] {
        samples.sorted {
            if $0.origin != $1.origin { return $0.origin.rawValue < $1.origin.rawValue }
            return $0.weight != $1.weight ? $0.weight > $1.weight : ($0.pid, $0.comm) < ($1.pid, $1.comm)
        }
    }
}

/// Samples beyond a profile's bound, per origin: the `[overflow]` entries.
struct OverflowTotals: Sendable {
    private(set) var byOrigin: [TraceOrigin: SampleTotals] = [:]

    mutating func add(_ samples: UInt64, offTime: UInt64, origin: TraceOrigin) {
        byOrigin[origin, default: SampleTotals()].add(samples, offTime: offTime)
    }

    /// Samples of every origin.
    var count: UInt64 { byOrigin.values.reduce(0) { $0.addingSaturating($1.count) } }

    /// One `[overflow]` entry for each origin that has any.
    var samples: [ProfileSample] {
        TraceOrigin.allCases.compactMap { origin in byOrigin[origin].map { ProfileSample.overflow($0, origin: origin) } }
    }

    /// The entry of `origin`'s samples: its count (folded output's lines), or nil.
    subscript(origin: TraceOrigin) -> SampleTotals? { byOrigin[origin] }
}

/// The tables a profile refers into, shared by the pprof and OTLP encoders: strings, mappings,
/// functions and locations, each interned once. Index 0 of the string table is "", and mappings,
/// functions and locations are numbered from 1: pprof's ids, and OTLP's table indices (whose
/// entry 0 is the zero value).
///
/// As upstream's reporters do, a native location's address is the frame's address in the
/// converted trace (the ELF virtual address for a named frame, so one function has one address in
/// every process) and its mapping is the process's mapping (start, limit, file offset) with the
/// file's name and build id. Kernel frames share one `[kernel.kallsyms]` mapping. Every function
/// is named already, so consumers need not symbolize.
struct ProfileTables {
    private(set) var strings: [String] = [""]
    private var stringIDs: [String: Int64] = ["": 0]
    private(set) var mappings: [Mapping] = []
    private var mappingIDs: [MappingKey: UInt64] = [:]
    /// The name's string index, per function.
    private(set) var functions: [Int64] = []
    private var functionIDs: [Int64: UInt64] = [:]
    private(set) var locations: [Location] = []
    /// The location of each frame id of the profile's `InternedFrames` worked out so far (a map,
    /// not an array: the frames a reporter retains can far outnumber those of one interval).
    private var frameLocations: [UInt32: UInt64] = [:]
    private var locationIDs: [Location: UInt64] = [:]

    struct MappingKey: Hashable {
        var file: FileID
        var start: UInt64
        var limit: UInt64
        var offset: UInt64
    }

    struct Mapping {
        var key: MappingKey
        var fileName: Int64
        /// The GNU build id's string index ("" when the file has none).
        var buildID: Int64
    }

    struct Location: Hashable {
        /// 0: no mapping.
        var mapping: UInt64
        var address: UInt64
        var function: UInt64
        /// Upstream's frame-type name (`native`, `kernel`, …), a string index.
        var frameType: Int64
    }

    mutating func string(_ text: String) -> Int64 {
        if let id = stringIDs[text] { return id }
        let id = Int64(strings.count)
        strings.append(text)
        stringIDs[text] = id
        return id
    }

    /// The location ids of a kept trace's frames, leaf first (both formats' order, and the trace's).
    /// Each frame's location is worked out once and then read by its id: a profile's stacks share
    /// most of their frames, and working one out hashes its name, mapping and location. One
    /// table serves one `frames` (an encoder makes a table per profile).
    mutating func locations(of ids: [UInt32], in frames: InternedFrames, executables: [FileID: ExecutableMetadata]) -> [UInt64] {
        ids.map { id in
            if let known = frameLocations[id] { return known }
            let location = location(of: frames[id], executables: executables)
            frameLocations[id] = location
            return location
        }
    }

    /// A location that only names a trace whose frames are unknown.
    mutating func placeholderLocation(named name: String) -> UInt64 {
        intern(Location(mapping: 0, address: 0, function: function(named: name), frameType: string("unknown")))
    }

    private mutating func location(of kept: (frame: InternedFrames.Frame, name: String), executables: [FileID: ExecutableMetadata]) -> UInt64 {
        let (frame, name) = kept
        let (type, file, address) = (frame.type, frame.file, frame.address)
        let mapping: UInt64
        if type.interpreter == .kernel {
            mapping = self.mapping(MappingKey(file: file, start: 0, limit: 0, offset: 0), fileName: "[kernel.kallsyms]", buildID: nil)
        } else {
            let executable = executables[file]
            mapping = self.mapping(
                MappingKey(file: file, start: frame.mappingStart, limit: frame.mappingEnd, offset: frame.mappingFileOffset),
                fileName: executable?.fileName ?? "[unknown]", buildID: executable?.buildID)
        }
        return intern(Location(mapping: mapping, address: address, function: function(named: name), frameType: string(type.interpreter.description)))
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
}
