import FuzzSupport
import Symbolization

// The input is the text of a /proc/<pid>/maps file (seeds: real ones). The kernel writes it, but
// its paths are any file name a process chose, spaces, newlines and invalid UTF-8 included.
// `ProcessMaps.parse` keeps the lines that parse and skips the rest; what it keeps must hold, and
// its executable-only reading must keep exactly the executable ones.

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
    // The symbolizer's reading keeps exactly the executable lines of the whole reading.
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let executable = ProcessMaps.parse(bytes, executableOnly: true)
    precondition(executable == ProcessMaps.parse(bytes, executableOnly: false).filter(\.isExecutable), "executable lines differ")
    return 0
}
