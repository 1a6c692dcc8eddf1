import AgentConfiguration
import FuzzSupport
import TraceModel

// The input is a configuration file (YAML or JSON), then optionally a NUL byte and lines that
// are given as `--set key=value` flags, or as the environment when they start with
// `TRACEHANDLER_`. Seeds: the documented defaults file, and files with every key set.
// `AgentConfiguration.load` must give a configuration or a `ConfigurationError`, whatever the
// text; a configuration that validates must print (`yamlFile`) as a file that loads back to
// the same configuration, which is what `tracehandler config --print-defaults` promises.

/// One file for every run, read by path as `--config` reads it.
private let file = MemoryFile(name: "fuzz-configuration")
/// The CPUs pinning keys may name: this machine's two, as `sched_getaffinity` reports them.
private let allowedCPUs = [0, 1]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let split = bytes.firstIndex(of: 0) ?? count
    file.replaceContents(with: UnsafeRawBufferPointer(rebasing: bytes[..<split]))
    var settings: [String] = []
    var environment: [String: String] = [:]
    if split < count {
        let lines = String(decoding: bytes[(split + 1)...], as: UTF8.self).split(separator: "\n")
        for line in lines.prefix(16) {
            if line.hasPrefix("TRACEHANDLER_"), let equals = line.firstIndex(of: "=") {
                environment[String(line[..<equals])] = String(line[line.index(after: equals)...])
            } else {
                settings.append(String(line))
            }
        }
    }
    let path = file.path
    let loaded = runBlocking { [environment, settings] () async throws(ConfigurationError) -> AgentConfiguration in
        try await AgentConfiguration.load(file: path, environment: environment, settings: settings)
    }
    guard case .success(let configuration) = loaded else { return 0 }
    guard (try? configuration.validate(allowedCPUs: allowedCPUs)) != nil else { return 0 }

    let printed = configuration.yamlFile()
    let reloaded = printed.utf8.withContiguousStorageIfAvailable { yaml in
        file.replaceContents(with: UnsafeRawBufferPointer(yaml))
        return runBlocking { () async throws(ConfigurationError) -> AgentConfiguration in
            try await AgentConfiguration.load(file: path, environment: [:], settings: [])
        }
    }
    switch reloaded {
    case .success(let again)?:
        precondition(again == configuration, "the printed configuration loads back different:\n\(printed)")
    case .failure(let error)?:
        preconditionFailure("the printed configuration does not load: \(error)\n\(printed)")
    case nil:
        preconditionFailure("a native String without contiguous UTF-8")
    }
    return 0
}
