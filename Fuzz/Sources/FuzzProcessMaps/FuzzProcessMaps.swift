import FuzzSupport
import Symbolization

// The input is the text of a /proc/<pid>/maps file (seeds: real ones). The kernel writes it, but
// its paths are any file name a process chose, spaces, newlines and invalid UTF-8 included.
// `ProcessMaps.parse` keeps the lines that parse and skips the rest; what it keeps must hold.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProcessMaps(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    let mappings = ProcessMaps.parse(text)
    precondition(mappings.count <= count / 10 + 1, "\(mappings.count) mappings from \(count) bytes")
    for mapping in mappings {
        precondition(mapping.start < mapping.end, "a mapping from \(mapping.start) to \(mapping.end)")
        precondition(mapping.contains(mapping.start) && !mapping.contains(mapping.end))
        precondition(!mapping.path.contains("\n"), "a path across lines")
        _ = mapping.isFile
        _ = mapping.moduleName
    }
    return 0
}
