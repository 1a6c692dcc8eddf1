import FuzzSupport
// Testable: the name parser is internal to the module. scripts/fuzz builds in debug, where
// SwiftPM compiles every module for testing.
@testable import ProfileExport

// The input is a file name in `export.spool-dir`. The agent (root) reads back and sends the
// requests a previous run left there, and anyone able to write the directory — refused unless it
// is private, but a name is checked before the file is opened — chooses names. A name parses
// only in the form the exporter writes, and what it parses to writes back to a name that parses
// to the same values.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpoolName(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let name = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    guard let parsed = SpooledRequestName(name) else { return 0 }
    precondition(name.hasPrefix("request-") && name.hasSuffix(".otlp.pb"), "parsed: \(name)")
    precondition(!name.contains("/") && name.utf8.allSatisfy { $0 < 0x80 }, "a name with a path or beyond ASCII: \(name)")
    precondition(parsed.index >= 0, "a negative index: \(name)")
    let written = parsed.fileName
    precondition(SpooledRequestName(written) == parsed, "\(written) does not read back as \(name)")
    // The canonical form of a name differs only by leading zeros.
    precondition(written.utf8.count <= name.utf8.count, "\(written) is longer than \(name)")
    return 0
}
