public import TraceModel
import Unwinding

/// The function symbols of one ELF file, sorted by address, with what is needed to turn a file
/// offset into the file's virtual addresses. Built once per file (`ELFFile.symbolTable()`), shared
/// by every process that maps the file, immutable but for the display names it demangles lazily.
public final class SymbolTable: @unchecked Sendable {
    // @unchecked: everything is immutable after init except `displayNameSlots` and
    // `displayNames`, which only `cachedDisplayName` writes, and `isEvicted`, which only
    // `SymbolTableCache` sets; the symbolizer calls both under its write lock, and only
    // `madeDisplayName` (which reads) under its read lock. Those three are
    // `@exclusivity(unchecked)`: the lock orders them between threads, and the dynamic check,
    // which only sees one thread's overlapping accesses, cost a runtime call a frame.
    /// The file's identity (`FileIdentity`: XXH3-128 over its first and last 4 KiB and its length),
    /// the file of every frame named from this table.
    public let fileID: FileID
    /// The GNU build id in hex, when the file has one.
    public let buildID: String?
    /// True when the names came from `.dynsym` alone (the file is stripped of `.symtab`, and no
    /// debug file or `.gnu_debugdata` named its other functions).
    public let isDynamicOnly: Bool
    /// Set when `SymbolTableCache` evicts the table: whoever still holds it drops it.
    @exclusivity(unchecked) var isEvicted = false

    private let segments: LoadSegments
    private let starts: [UInt64]
    /// The end of each symbol (start + size), or 0 when the size is unknown (then it runs to the next).
    private let ends: [UInt64]
    /// Where each name starts: in `names`, or in `nameSection` when the names stayed in the file.
    private let nameOffsets: [UInt32]
    private let names: [UInt8]
    private let nameSection: SymbolNameSection?
    /// Display names made so far: a symbol's slot is 0 (none yet), `unreadableName` (its name
    /// could not be read from the file, `SymbolNameSection`: not read again for every frame in
    /// it), or 1 + where its name is in `displayNames`. The slots are made at the first name, 4
    /// bytes a symbol (an optional string each took 16); a lookup per frame stays an array index.
    @exclusivity(unchecked) private var displayNameSlots: [UInt32] = []
    @exclusivity(unchecked) private var displayNames: [String] = []
    private static let unreadableName = UInt32.max

    init(fileID: FileID, buildID: String?, isDynamicOnly: Bool, segments: LoadSegments, functions: FunctionSymbols) {
        self.fileID = fileID
        self.buildID = buildID
        self.isDynamicOnly = isDynamicOnly
        self.segments = segments
        starts = functions.symbols.map(\.start)
        ends = functions.symbols.map { $0.size == 0 ? 0 : $0.start &+ $0.size }
        nameSection = functions.nameSection
        if nameSection != nil {
            nameOffsets = functions.symbols.map(\.nameOffset)
            names = []
            return
        }
        // Exactly the kept names: the table holds them as long as it is cached, and the
        // section's names of aliases and other symbols were only needed while reading.
        var nameBytes = 0
        for symbol in functions.symbols { nameBytes += (functions.name(of: symbol)?.count ?? 0) + 1 }
        var nameOffsets: [UInt32] = []
        var names: [UInt8] = []
        nameOffsets.reserveCapacity(functions.count)
        names.reserveCapacity(nameBytes)
        for symbol in functions.symbols {
            nameOffsets.append(UInt32(names.count))
            if let name = functions.name(of: symbol) { names.append(contentsOf: name) }
            names.append(0)
        }
        self.nameOffsets = nameOffsets
        self.names = names
    }

    /// Function symbols in the table.
    public var symbolCount: Int { starts.count }

    /// Approximate memory held, for the cache's bound: 24 bytes a symbol (its display-name slot
    /// included), and its name or the descriptor of the file that holds the names. The demangled
    /// names kept are not counted: one per function that traces met, few of them.
    public var byteCount: Int {
        starts.count * 24 + names.count + (nameSection == nil ? 0 : SymbolNameSection.descriptorCost) + segments.byteCount + 256
    }

    /// Whether the names stayed in the file (`SymbolNameSection`).
    public var namesStayInFile: Bool { nameSection != nil }

    /// The virtual address of a file offset, through the PT_LOAD segment that maps it.
    public func virtualAddress(forFileOffset offset: UInt64) -> UInt64? { segments.virtualAddress(forFileOffset: offset) }

    /// The symbol containing `address` (a virtual address of this file): its index, or nil.
    public func symbolIndex(containing address: UInt64) -> Int? {
        guard let index = starts.lastIndex(atOrBelow: address) else { return nil }
        if ends[index] != 0 && address >= ends[index] { return nil }
        return index
    }

    /// The symbol's name as the file spells it; nil when it stayed in a file that no longer has
    /// it (changed or truncated since).
    public func rawName(_ index: Int) -> String? {
        if let nameSection {
            return nameSection.name(at: nameOffsets[index]).map { String(decoding: $0, as: UTF8.self) }
        }
        let start = Int(nameOffsets[index])
        var end = start
        while names[end] != 0 { end += 1 }
        return String(decoding: names[start..<end], as: UTF8.self)
    }

    /// The symbol's name for people (demangled).
    public func displayName(_ index: Int) -> String? { rawName(index).map(Demangler.demangle) }

    /// A display name as `cachedDisplayName` left it, without making one: what readers sharing
    /// the table may ask (they must not write).
    enum MadeName {
        case name(String)
        /// Its name could not be read from the file.
        case unreadable
        /// `cachedDisplayName` has not been asked for it yet.
        case notMade
    }

    /// The display name `cachedDisplayName` made for symbol `index`, if it did. Reads only: safe
    /// under the symbolizer's read lock.
    func madeDisplayName(_ index: Int) -> MadeName {
        guard !displayNameSlots.isEmpty else { return .notMade }
        switch displayNameSlots[index] {
        case 0: return .notMade
        case Self.unreadableName: return .unreadable
        case let slot: return .name(displayNames[Int(slot) - 1])
        }
    }

    /// `displayName`, made once and kept. Only under the symbolizer's write lock.
    func cachedDisplayName(_ index: Int) -> String? {
        if displayNameSlots.isEmpty { displayNameSlots = Array(repeating: 0, count: starts.count) }
        let slot = displayNameSlots[index]
        if slot == Self.unreadableName { return nil }
        if slot != 0 { return displayNames[Int(slot) - 1] }
        guard let name = displayName(index) else {
            displayNameSlots[index] = Self.unreadableName
            return nil
        }
        displayNames.append(name)
        displayNameSlots[index] = UInt32(displayNames.count)
        return name
    }
}

extension SymbolTable {
    /// Reads the symbol table of the ELF file at `path`.
    public static func load(path: String) throws(SymbolizationError) -> SymbolTable {
        try ELFFile(path: path).symbolTable()
    }
}

extension Array where Element == UInt64 {
    /// In an ascending array, the index of the last element ≤ `value` (the branch-free search
    /// the unwind tables use), or nil.
    func lastIndex(atOrBelow value: UInt64) -> Int? {
        withUnsafeBufferPointer { $0.lastIndex(atOrBelow: value) }
    }
}
