/// The function symbols of a symbol section on their way into a `SymbolTable`: addresses and
/// sizes, and every name in one byte buffer rather than a string each — a large binary has
/// 100 000 functions and 10 MiB of names, and a string per name would allocate all of it
/// again, piece by piece, for the moment of reading (design/symbolization.md).
struct FunctionSymbols {
    struct Symbol {
        var start: UInt64
        var size: UInt64
        /// Where the name starts in `names`.
        var nameOffset: UInt32
        var isGlobal: Bool
    }

    var symbols: [Symbol] = []
    /// The names, each followed by a NUL. A section's names are fewer than
    /// `ELFFile.maximumSectionBytes` (128 MiB), a file's at most two sections' (`merge`): an
    /// offset fits in 32 bits.
    var names: [UInt8] = []
    /// Set when the names were left in their file: `names` is empty and a symbol's `nameOffset`
    /// is its offset in this section (`st_name`).
    var nameSection: SymbolNameSection?

    var isEmpty: Bool { symbols.isEmpty }
    var count: Int { symbols.count }

    mutating func append(start: UInt64, size: UInt64, isGlobal: Bool, name: UnsafeRawBufferPointer) {
        symbols.append(Symbol(start: start, size: size, nameOffset: UInt32(names.count), isGlobal: isGlobal))
        names.append(contentsOf: name)
        names.append(0)
    }

    /// The name of `symbol`, without its NUL; nil when it is in a file that no longer has it.
    func name(of symbol: Symbol) -> ArraySlice<UInt8>? {
        if let nameSection { return nameSection.name(at: symbol.nameOffset).map { $0[...] } }
        let start = Int(symbol.nameOffset)
        var end = start
        while names[end] != 0 { end += 1 }
        return names[start..<end]
    }

    /// Sorts by address and keeps one symbol per address: of aliases, the sized, global one.
    /// The others' names stay in `names`; `SymbolTable` keeps only the names it needs.
    mutating func sortByAddress() {
        symbols.sort { a, b in
            if a.start != b.start { return a.start < b.start }
            if (a.size != 0) != (b.size != 0) { return a.size != 0 }
            return a.isGlobal && !b.isGlobal
        }
        var kept = 0
        for index in symbols.indices where kept == 0 || symbols[kept - 1].start != symbols[index].start {
            symbols[kept] = symbols[index]
            kept += 1
        }
        symbols.removeLast(symbols.count - kept)
    }

    /// Adds `other`'s symbols (another file's names), then sorts again. Both have their names in
    /// memory.
    mutating func merge(_ other: FunctionSymbols) {
        precondition(nameSection == nil && other.nameSection == nil, "merged names are in memory")
        let base = UInt32(names.count)
        names.append(contentsOf: other.names)
        for var symbol in other.symbols {
            symbol.nameOffset += base
            symbols.append(symbol)
        }
        sortByAddress()
    }
}
