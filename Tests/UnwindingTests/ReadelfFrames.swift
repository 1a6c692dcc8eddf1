import Foundation
@testable import Unwinding

/// `readelf --debug-dump=frames-interp` parsed: the judge our tables are checked against.
struct ReadelfFrames {
    struct Row {
        let location: UInt64
        /// "rsp+8", "rbp+16", "exp", …
        let cfa: String
        /// The rbp column ("u", "c-16", "exp", …), nil when readelf printed none.
        let rbp: String?
        let ra: String?
    }

    struct Entry {
        let section: String
        let offset: UInt64
        let isCIE: Bool
        let augmentation: String
        let cieOffset: UInt64
        let start: UInt64
        let end: UInt64
        var rows: [Row] = []
    }

    private(set) var entries: [Entry] = []
    /// CIEs by (section, offset).
    private var commonEntries: [String: Entry] = [:]

    init(path: String) throws {
        let output = try Tools.run("/usr/bin/readelf", ["--debug-dump=frames-interp", "-W", path], acceptingFailure: true)
        var section = ""
        var columns: [Substring] = []
        for line in output.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("Contents of the ") {
                section = String(line.split(separator: " ")[3])
                continue
            }
            // A register rule prints as "r9 (r9)": glue the parenthesised name to its token.
            var fields: [Substring] = []
            for token in line.split(separator: " ", omittingEmptySubsequences: true) {
                if token.hasPrefix("("), let last = fields.popLast() {
                    fields.append(line[last.startIndex ..< token.endIndex])
                } else {
                    fields.append(token)
                }
            }
            guard fields.count >= 2 else { continue }
            if fields[0] == "LOC" {
                columns = Array(fields)
            } else if fields.count >= 4, fields[3] == "CIE" || fields[3] == "FDE", let offset = UInt64(fields[0], radix: 16) {
                if fields[3] == "CIE" {
                    let augmentation = fields.count > 4 ? fields[4].replacingOccurrences(of: "\"", with: "") : ""
                    entries.append(Entry(section: section, offset: offset, isCIE: true, augmentation: augmentation, cieOffset: offset, start: 0, end: 0))
                } else {
                    let cie = UInt64(fields[4].dropFirst(4), radix: 16) ?? .max
                    let range = fields[5].dropFirst(3).split(separator: ".", omittingEmptySubsequences: true)
                    entries.append(Entry(section: section, offset: offset, isCIE: false, augmentation: "", cieOffset: cie,
                                         start: UInt64(range[0], radix: 16) ?? 0, end: UInt64(range[1], radix: 16) ?? 0))
                }
                if fields[3] == "CIE", let cie = entries.last { commonEntries["\(section) \(offset)"] = cie }
                columns = []
            } else if fields[0].count == 16, let location = UInt64(fields[0], radix: 16), !columns.isEmpty, !entries.isEmpty {
                func column(_ name: String) -> String? {
                    guard let index = columns.firstIndex(of: Substring(name)), index < fields.count else { return nil }
                    return String(fields[index])
                }
                let row = Row(location: location, cfa: String(fields[1]), rbp: column("rbp"), ra: column("ra"))
                entries[entries.count - 1].rows.append(row)
                if entries[entries.count - 1].isCIE { commonEntries["\(section) \(entries[entries.count - 1].offset)"]?.rows.append(row) }
            }
        }
    }

    /// The rules readelf gives an FDE (its CIE's last row when it printed none), one per
    /// location (the last printed wins), below the FDE's end.
    func rows(of entry: Entry) -> [Row] {
        var rows = entry.rows
        if rows.isEmpty, let last = commonEntries["\(entry.section) \(entry.cieOffset)"]?.rows.last {
            rows = [Row(location: entry.start, cfa: last.cfa, rbp: last.rbp, ra: last.ra)]
        }
        var unique: [Row] = []
        for row in rows where row.location < entry.end {
            if unique.last?.location == row.location { unique.removeLast() }
            unique.append(row)
        }
        return unique
    }

    func augmentation(ofCIEAt offset: UInt64, section: String) -> String {
        commonEntries["\(section) \(offset)"]?.augmentation ?? ""
    }
}

/// How one readelf row must look in our table; nil when it agrees, else what differs.
func disagreement(_ rule: UnwindRule, _ row: ReadelfFrames.Row, signalFrame: Bool) -> String? {
    let actual = rule.cfa
    func mismatch(_ expected: String) -> String {
        "at 0x\(String(row.location, radix: 16)): readelf cfa=\(row.cfa) rbp=\(row.rbp ?? "-") ra=\(row.ra ?? "-"), expected \(expected), table has \(actual) ra \(rule.returnAddressOffset.map(String.init) ?? "-") bp \(rule.savedBP)"
    }
    if signalFrame { return actual == .signalFrame ? nil : mismatch("signal frame") }
    let ra = row.ra ?? "u"
    if ra == "u" { return actual == .outermost ? nil : mismatch("outermost") }
    guard ra.hasPrefix("c"), let raOffset = Int(ra.dropFirst()) else {
        return actual == .unsupported(.returnAddressRule) ? nil : mismatch("unsupported RA")
    }
    guard let smallRA = Int8(exactly: raOffset) else { return actual == .unsupported(.offsetRange) ? nil : mismatch("offset range") }

    // The CFA.
    if row.cfa == "exp" {
        switch actual {
        case .pltStub, .bpDereference, .unsupported(.cfaExpression): break
        default: return mismatch("an expression kind")
        }
        if case .unsupported = actual { return nil }
    } else {
        let sign = row.cfa.firstIndex { $0 == "+" || $0 == "-" } ?? row.cfa.endIndex
        let register = row.cfa[..<sign]
        guard let offset = Int32(row.cfa[sign...].replacingOccurrences(of: "+", with: "")) else { return mismatch("parsable cfa") }
        switch register {
        case "rsp": if actual != .spOffset(offset) { return mismatch("rsp+\(offset)") }
        case "rbp": if actual != .bpOffset(offset) { return mismatch("rbp+\(offset)") }
        default: return actual == .unsupported(.cfaRegister) ? nil : mismatch("unsupported CFA register")
        }
    }
    if rule.returnAddressOffset != smallRA { return mismatch("ra c\(raOffset)") }

    // RBP.
    switch row.rbp ?? "u" {
    case "u", "s":
        return rule.savedBP == .unchanged ? nil : mismatch("rbp unchanged")
    case "exp":
        if case .atBP = rule.savedBP { return nil }
        return mismatch("rbp saved through an expression")
    case let saved where saved.hasPrefix("c"):
        guard let offset = Int16(saved.dropFirst()) else { return mismatch("rbp parsable") }
        return rule.savedBP == .atCFA(offset) ? nil : mismatch("rbp at c\(offset)")
    default:
        return mismatch("rbp unsupported (should have been counted)")
    }
}
