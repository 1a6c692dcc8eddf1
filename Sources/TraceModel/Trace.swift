internal import CTraceRecord

/// A converted, user-mode trace in columnar form (upstream `libpf.Trace`): one entry a frame in
/// each column, leaf first.
///
/// The converter owns the columns' meaning: for a native frame `linenos` holds the address (or
/// the file offset once mapped), `mappingStarts`/`mappingEnds`/`mappingFileOffsets` the mapping it
/// fell in (zero when unknown). `symbols` holds a symbolized name for each frame, or nil where none
/// was found; `isSymbolized` is false when the whole trace skipped symbolization (backpressure).
public struct Trace: Hashable, Sendable {
    public var files: [FileID] = []
    public var linenos: [UInt64] = []
    public var frameTypes: [FrameType] = []
    public var mappingStarts: [UInt64] = []
    public var mappingEnds: [UInt64] = []
    public var mappingFileOffsets: [UInt64] = []
    public var symbols: [String?] = []
    public var isSymbolized: Bool = true
    public var hash: TraceHash = TraceHash(high: 0, low: 0)

    public init() {}

    public init(reservingCapacity capacity: Int) {
        files.reserveCapacity(capacity)
        linenos.reserveCapacity(capacity)
        frameTypes.reserveCapacity(capacity)
        mappingStarts.reserveCapacity(capacity)
        mappingEnds.reserveCapacity(capacity)
        mappingFileOffsets.reserveCapacity(capacity)
        symbols.reserveCapacity(capacity)
    }

    /// The raw trace's frames as they are, without symbolization: every frame keeps its address,
    /// its kind and the BPF side's file id. `isSymbolized` is false. The hash is computed.
    public init(unsymbolized raw: borrowing RawTrace) {
        self.init(reservingCapacity: raw.frameCount)
        assignUnsymbolized(raw)
    }

    /// `Trace(unsymbolized:)` in place: keeps the columns' capacity, so a reused trace allocates
    /// nothing.
    public mutating func assignUnsymbolized(_ raw: borrowing RawTrace) {
        removeAll(keepingCapacity: true)
        raw.withFrames { frames in
            for frame in frames {
                append(file: FileID(frame.fileID), lineno: frame.addressOrLine, type: frame.type)
            }
        }
        isSymbolized = false
        hash = computeHash()
    }

    /// Empties every column.
    public mutating func removeAll(keepingCapacity: Bool = false) {
        files.removeAll(keepingCapacity: keepingCapacity)
        linenos.removeAll(keepingCapacity: keepingCapacity)
        frameTypes.removeAll(keepingCapacity: keepingCapacity)
        mappingStarts.removeAll(keepingCapacity: keepingCapacity)
        mappingEnds.removeAll(keepingCapacity: keepingCapacity)
        mappingFileOffsets.removeAll(keepingCapacity: keepingCapacity)
        symbols.removeAll(keepingCapacity: keepingCapacity)
        isSymbolized = true
        hash = TraceHash(high: 0, low: 0)
    }

    @inlinable
    public var frameCount: Int { linenos.count }

    public mutating func append(
        file: FileID, lineno: UInt64, type: FrameType,
        mappingStart: UInt64 = 0, mappingEnd: UInt64 = 0, mappingFileOffset: UInt64 = 0, symbol: String? = nil
    ) {
        files.append(file)
        linenos.append(lineno)
        frameTypes.append(type)
        mappingStarts.append(mappingStart)
        mappingEnds.append(mappingEnd)
        mappingFileOffsets.append(mappingFileOffset)
        symbols.append(symbol)
    }

    /// XXH3-128 over each frame's file id, address-or-line and type (`th_xxh3_128_columns`). Two
    /// traces with the same frames have the same hash whatever process or CPU they came from.
    public func computeHash() -> TraceHash {
        let h = files.withUnsafeBytes { fileBytes in
            linenos.withUnsafeBufferPointer { lines in
                frameTypes.withUnsafeBytes { types in
                    // FileID is two UInt64 words, high then low: the layout the C side reads.
                    th_xxh3_128_columns(
                        fileBytes.baseAddress?.assumingMemoryBound(to: UInt64.self), lines.baseAddress,
                        types.baseAddress?.assumingMemoryBound(to: UInt8.self), lines.count)
                }
            }
        }
        return TraceHash(high: h.high, low: h.low)
    }
}
