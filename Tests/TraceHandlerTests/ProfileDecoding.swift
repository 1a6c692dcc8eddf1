import CZlib

/// A protocol-buffer wire reader for the tests: each message as field number → values (varints and
/// fixed64 as UInt64, length-delimited fields as bytes), enough to read pprof and OTLP back.
struct WireMessage {
    var varints: [UInt32: [UInt64]] = [:]
    var bytes: [UInt32: [[UInt8]]] = [:]

    struct Malformed: Error {}

    init(_ data: [UInt8]) throws {
        var index = 0
        func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard index < data.count, shift < 64 else { throw Malformed() }
                let byte = data[index]
                index += 1
                value |= UInt64(byte & 0x7f) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }
        while index < data.count {
            let key = try varint()
            let field = UInt32(key >> 3)
            switch key & 7 {
            case 0: varints[field, default: []].append(try varint())
            case 1:  // fixed64, kept with the varints
                guard data.count - index >= 8 else { throw Malformed() }
                varints[field, default: []].append((0..<8).reduce(UInt64(0)) { $0 | UInt64(data[index + $1]) << (8 * UInt64($1)) })
                index += 8
            case 2:
                let length = Int(try varint())
                guard length <= data.count - index else { throw Malformed() }
                bytes[field, default: []].append(Array(data[index..<index + length]))
                index += length
            default: throw Malformed()
            }
        }
    }

    func messages(_ field: UInt32) throws -> [WireMessage] { try (bytes[field] ?? []).map(WireMessage.init) }
    func varint(_ field: UInt32) -> UInt64 { varints[field]?.first ?? 0 }
    /// A packed repeated varint field (or the same field written unpacked).
    func packed(_ field: UInt32) throws -> [UInt64] {
        var values = varints[field] ?? []
        for chunk in bytes[field] ?? [] {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            for byte in chunk {
                guard shift < 64 else { throw Malformed() }
                value |= UInt64(byte & 0x7f) << shift
                shift += 7
                if byte < 0x80 {
                    values.append(value)
                    value = 0
                    shift = 0
                }
            }
            guard shift == 0 else { throw Malformed() }
        }
        return values
    }
}

/// A pprof profile read back: every sample as (leaf-first function names, values, labels).
struct DecodedProfile {
    struct Sample: Equatable {
        var functions: [String]
        var values: [UInt64]
        var comm: String
        var pid: UInt64
    }

    var samples: [Sample] = []
    var sampleTypes: [String] = []
    var mappingFiles: [String] = []
    var buildIDs: [String] = []
    var period: UInt64
    var durationNanos: UInt64

    init(_ data: [UInt8]) throws {
        let profile = try WireMessage(data)
        let strings = (profile.bytes[6] ?? []).map { String(decoding: $0, as: UTF8.self) }
        func string(_ id: UInt64) -> String { Int(id) < strings.count ? strings[Int(id)] : "<bad string \(id)>" }
        var functionNames: [UInt64: String] = [:]
        for function in try profile.messages(5) { functionNames[function.varint(1)] = string(function.varint(2)) }
        var locationFunctions: [UInt64: String] = [:]
        for location in try profile.messages(4) {
            let line = try location.messages(4).first
            locationFunctions[location.varint(1)] = line.map { functionNames[$0.varint(1)] ?? "<bad function>" } ?? "<no line>"
        }
        for mapping in try profile.messages(3) {
            mappingFiles.append(string(mapping.varint(5)))
            buildIDs.append(string(mapping.varint(6)))
        }
        sampleTypes = try profile.messages(1).map { string($0.varint(1)) + "/" + string($0.varint(2)) }
        for sample in try profile.messages(2) {
            var comm = ""
            var pid: UInt64 = 0
            for label in try sample.messages(3) {
                switch string(label.varint(1)) {
                case "comm": comm = string(label.varint(2))
                case "pid": pid = label.varint(3)
                default: break
                }
            }
            samples.append(Sample(
                functions: try sample.packed(1).map { locationFunctions[$0] ?? "<bad location>" },
                values: try sample.packed(2), comm: comm, pid: pid))
        }
        period = profile.varint(12)
        durationNanos = profile.varint(10)
    }
}

/// Inflates one gzip member.
func gunzip(_ data: [UInt8]) -> [UInt8]? {
    var stream = z_stream()
    guard th_inflate_init_gzip(&stream) == Z_OK else { return nil }
    defer { inflateEnd(&stream) }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var input = data
    return input.withUnsafeMutableBufferPointer { input -> [UInt8]? in
        stream.next_in = input.baseAddress
        stream.avail_in = UInt32(input.count)
        while true {
            let (result, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                let result = inflate(&stream, Z_NO_FLUSH)
                return (result, out.count - Int(stream.avail_out))
            }
            output += chunk[0..<produced]
            if result == Z_STREAM_END { return output }
            guard result == Z_OK else { return nil }
        }
    }
}

/// An OTLP `ExportProfilesServiceRequest` read back: the first profile's samples as (leaf-first
/// function names, count, attributes), and what the dictionary's zero entries hold.
struct DecodedOTLPProfile {
    struct Sample: Equatable {
        var functions: [String]
        var count: UInt64
        var attributes: [String: String]
    }

    var samples: [Sample] = []
    var sampleType: String
    var periodType: String
    var period: UInt64
    var mappingFiles: [String] = []
    var mappingAttributes: [[String: String]] = []
    /// Whether entry 0 of every table is the zero value (an empty message, "" for strings).
    var zeroEntriesAreEmpty: Bool

    /// How many profiles the request's scope holds (one per origin).
    var profileCount: Int

    /// Decodes the request and its profile number `index`.
    init(_ data: [UInt8], profile index: Int = 0) throws {
        let request = try WireMessage(data)
        let dictionary = try request.messages(2)[0]
        let strings = (dictionary.bytes[5] ?? []).map { String(decoding: $0, as: UTF8.self) }
        func string(_ id: UInt64) -> String { Int(id) < strings.count ? strings[Int(id)] : "<bad string \(id)>" }
        let mappings = try dictionary.messages(1)
        let locations = try dictionary.messages(2)
        let functions = try dictionary.messages(3)
        let attributeTable = try dictionary.messages(6)
        let stacks = try dictionary.messages(7)
        zeroEntriesAreEmpty = [1, 2, 3, 4, 6, 7].allSatisfy { (dictionary.bytes[$0]?.first ?? [1]).isEmpty }
            && strings.first == ""
        func attributes(_ indices: [UInt64]) throws -> [String: String] {
            var result: [String: String] = [:]
            for index in indices {
                let entry = attributeTable[Int(index)]
                let value = try entry.messages(2)[0]
                result[string(entry.varint(1))] = value.bytes[1].map { String(decoding: $0[0], as: UTF8.self) } ?? String(value.varint(3))
            }
            return result
        }
        for mapping in mappings.dropFirst() {
            mappingFiles.append(string(mapping.varint(4)))
            mappingAttributes.append(try attributes(try mapping.packed(5)))
        }
        let profiles = try request.messages(1)[0].messages(2)[0].messages(2)
        profileCount = profiles.count
        let profile = profiles[index]
        let type = try profile.messages(1)[0]
        sampleType = string(type.varint(1)) + "/" + string(type.varint(2))
        let period = try profile.messages(5).first
        periodType = period.map { string($0.varint(1)) + "/" + string($0.varint(2)) } ?? ""
        self.period = profile.varint(6)
        for sample in try profile.messages(2) {
            let stack = stacks[Int(sample.varint(1))]
            let names = try stack.packed(1).map { location in
                let line = try locations[Int(location)].messages(3)[0]
                return string(functions[Int(line.varint(1))].varint(1))
            }
            samples.append(Sample(functions: names, count: try sample.packed(4)[0], attributes: try attributes(try sample.packed(2))))
        }
    }
}
