internal import CTraceRecord

/// A converted, user-mode trace in columnar form (upstream `libpf.Trace`): one entry a frame in
/// each column, leaf first.
///
/// The converter owns the columns' meaning: for a native frame `linenos` holds the address (or
/// the file offset once mapped), `mappingStarts`/`mappingEnds`/`mappingFileOffsets` the mapping it
/// fell in (zero when unknown). `symbols` holds a symbolized name for each frame, or nil where none
/// was found; `isSymbolized` is false when the whole trace skipped symbolization (backpressure).
///
/// `hash`, the user-mode hash that reporters key traces by, is derived from the frames and only
/// set by `updateHash()`: the handlers call it after every conversion, so a processor cannot
/// forget it (a trace left at hash 0 would be merged with every other such trace).
public struct Trace: Hashable, Sendable {
    /// Each frame's file: the executable or library it lies in, as the converter identified it.
    public var files: [FileID] = []
    /// Each frame's address (native and kernel frames; the file offset once mapped) or line
    /// (interpreter frames).
    public var linenos: [UInt64] = []
    /// Each frame's kind, error bit included.
    public var frameTypes: [FrameType] = []
    /// The start address of the mapping each frame fell in; 0 when unknown.
    public var mappingStarts: [UInt64] = []
    /// The end address (exclusive) of the mapping each frame fell in; 0 when unknown.
    public var mappingEnds: [UInt64] = []
    /// The file offset mapped at each frame's `mappingStarts` address; 0 when unknown.
    public var mappingFileOffsets: [UInt64] = []
    /// Each frame's symbolized name; nil where none was found.
    public var symbols: [String?] = []
    /// False when the whole trace skipped symbolization (backpressure, `UnsymbolizedTraceProcessor`).
    /// Default true.
    public var isSymbolized: Bool = true
    /// The user-mode hash of the frames as of the last `updateHash()` (zero before the first).
    public private(set) var hash: TraceHash = TraceHash(high: 0, low: 0)

    /// An empty trace: no frames, hash zero.
    public init() {}

    /// An empty trace whose columns have room for `capacity` frames.
    public init(reservingCapacity capacity: Int) {
        reserveFrames(capacity)
    }

    /// Frames the columns have room for without allocating.
    public var frameCapacity: Int { files.capacity }

    /// Makes room in every column for `capacity` frames.
    public mutating func reserveFrames(_ capacity: Int) {
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
        updateHash()
    }

    /// `Trace(unsymbolized:)` in place, for processors: keeps the columns' capacity, so a reused
    /// trace allocates nothing. Leaves the hash to the handler (`updateHash()`).
    public mutating func assignUnsymbolized(_ raw: borrowing RawTrace) {
        withUnsafePointer(to: raw) { assignUnsymbolized(rawTraceAt: $0) }
    }

    /// `assignUnsymbolized(_:)` for a trace viewed in place (see `RawTrace.withFrames(in:_:)`).
    public mutating func assignUnsymbolized(inPlace raw: Span<RawTrace>) {
        raw.withUnsafeBufferPointer { assignUnsymbolized(rawTraceAt: $0.baseAddress!) }
    }

    /// `assignUnsymbolized(_:)` for a trace read through a pointer.
    mutating func assignUnsymbolized(rawTraceAt raw: UnsafePointer<RawTrace>) {
        RawTrace.withFrames(at: raw) { frames in
            withFrameRows(count: frames.count) { rows in
                for (row, frame) in frames.enumerated() {
                    rows.set(row, file: FileID(frame.fileID), lineno: frame.addressOrLine, type: frame.type)
                }
            }
        }
        isSymbolized = false
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

    /// The number of frames: the rows of every column.
    @inlinable
    public var frameCount: Int { linenos.count }

    /// Appends one frame to every column, after those already there (leaf first). Leaves `hash` as
    /// it was: see `updateHash()`.
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

    /// Sets every column to `count` frames and lets `body` write them in place, row by row
    /// (`FrameRows.set`). Converters that know the frame count use this instead of `append`: seven
    /// array appends a frame, each checking uniqueness and capacity, cost more than the conversion.
    /// Rows `body` does not set keep what they held (new rows: zeros, `.native` and nil).
    ///
    /// Not generic, on purpose: callers in other modules would run an unspecialized copy, looking up
    /// the metadata of every nested closure's types on each call.
    public mutating func withFrameRows(count: Int, _ body: (borrowing FrameRows) -> Void) {
        Self.resize(&files, to: count, with: FileID(high: 0, low: 0))
        Self.resize(&linenos, to: count, with: 0)
        Self.resize(&frameTypes, to: count, with: .native)
        Self.resize(&mappingStarts, to: count, with: 0)
        Self.resize(&mappingEnds, to: count, with: 0)
        Self.resize(&mappingFileOffsets, to: count, with: 0)
        Self.resize(&symbols, to: count, with: nil)
        files.withUnsafeMutableBufferPointer { files in
            linenos.withUnsafeMutableBufferPointer { linenos in
                frameTypes.withUnsafeMutableBufferPointer { frameTypes in
                    mappingStarts.withUnsafeMutableBufferPointer { mappingStarts in
                        mappingEnds.withUnsafeMutableBufferPointer { mappingEnds in
                            mappingFileOffsets.withUnsafeMutableBufferPointer { mappingFileOffsets in
                                symbols.withUnsafeMutableBufferPointer { symbols in
                                    body(FrameRows(
                                        files: files, linenos: linenos, frameTypes: frameTypes, mappingStarts: mappingStarts,
                                        mappingEnds: mappingEnds, mappingFileOffsets: mappingFileOffsets, symbols: symbols,
                                        count: count))
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private static func resize<Element>(_ column: inout [Element], to count: Int, with filler: Element) {
        if column.count > count {
            column.removeLast(column.count - count)
        } else if column.count < count {
            column.append(contentsOf: repeatElement(filler, count: count - column.count))
        }
    }

    /// Sets `hash` from the frames as they are now. The handlers (the Go-shaped one and the
    /// engine's stages) call it after each conversion; whoever builds a trace for a reporter
    /// directly calls it once the frames are written.
    public mutating func updateHash() {
        hash = computeHash()
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

/// Write access to the rows of a `Trace`'s columns, for `Trace.withFrameRows(count:_:)`. Valid only
/// inside that call; every row index must be below `count`.
///
/// `@unchecked Sendable` so that a converter may write rows from inside a lock's closure with the
/// state the lock guards (region checking would otherwise merge the two). It cannot outlive the
/// call: it is non-copyable and only ever lent.
public struct FrameRows: ~Copyable, @unchecked Sendable {
    // Buffers, not base pointers: an empty column may have no storage (a nil base).
    @usableFromInline let files: UnsafeMutableBufferPointer<FileID>
    @usableFromInline let linenos: UnsafeMutableBufferPointer<UInt64>
    @usableFromInline let frameTypes: UnsafeMutableBufferPointer<FrameType>
    @usableFromInline let mappingStarts: UnsafeMutableBufferPointer<UInt64>
    @usableFromInline let mappingEnds: UnsafeMutableBufferPointer<UInt64>
    @usableFromInline let mappingFileOffsets: UnsafeMutableBufferPointer<UInt64>
    @usableFromInline let symbols: UnsafeMutableBufferPointer<String?>
    /// The number of rows; `set` traps on a row outside `0..<count`.
    public let count: Int

    init(
        files: UnsafeMutableBufferPointer<FileID>, linenos: UnsafeMutableBufferPointer<UInt64>,
        frameTypes: UnsafeMutableBufferPointer<FrameType>, mappingStarts: UnsafeMutableBufferPointer<UInt64>,
        mappingEnds: UnsafeMutableBufferPointer<UInt64>, mappingFileOffsets: UnsafeMutableBufferPointer<UInt64>,
        symbols: UnsafeMutableBufferPointer<String?>, count: Int
    ) {
        self.files = files
        self.linenos = linenos
        self.frameTypes = frameTypes
        self.mappingStarts = mappingStarts
        self.mappingEnds = mappingEnds
        self.mappingFileOffsets = mappingFileOffsets
        self.symbols = symbols
        self.count = count
    }

    /// Sets row `row` of every column: what `Trace.append` would add as the row-th frame.
    @inlinable
    public func set(
        _ row: Int, file: FileID, lineno: UInt64, type: FrameType,
        mappingStart: UInt64 = 0, mappingEnd: UInt64 = 0, mappingFileOffset: UInt64 = 0, symbol: String? = nil
    ) {
        precondition(row >= 0 && row < count, "frame row out of range")
        files[row] = file
        linenos[row] = lineno
        frameTypes[row] = type
        mappingStarts[row] = mappingStart
        mappingEnds[row] = mappingEnd
        mappingFileOffsets[row] = mappingFileOffset
        symbols[row] = symbol
    }
}
