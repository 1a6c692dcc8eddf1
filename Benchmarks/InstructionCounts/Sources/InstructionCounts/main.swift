// Usage: InstructionCounts <workload> <count>, --list, or --counts <workload> (scripts/instruction-counts runs it)
#if canImport(Glibc)
import Glibc
#endif
let arguments = CommandLine.arguments
if arguments.count == 2, arguments[1] == "--list" {
    print(Workload.allCases.map(\.rawValue).joined(separator: " "))
    exit(0)
}
if arguments.count == 3, arguments[1] == "--counts", let workload = Workload(rawValue: arguments[2]) {
    print("\(workload.counts.small) \(workload.counts.large)")
    exit(0)
}
guard arguments.count == 3, let workload = Workload(rawValue: arguments[1]), let count = Int(arguments[2]), count > 0 else {
    let usage = "usage: InstructionCounts <workload> <count>\nworkloads: \(Workload.allCases.map(\.rawValue).joined(separator: " "))\n"
    _ = usage.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    exit(2)
}
workload.run(count)
