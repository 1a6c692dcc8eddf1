import RingWorkloads

#if canImport(Glibc)
import Glibc
#endif

// The Swift ring against the C baseline ring (scripts/compare-rings runs both modes):
//
//   RingComparison round-trip swift|c SIZE BATCH COUNT
//       one thread, COUNT elements of SIZE bytes through a 4096-slot ring, BATCH pushed then
//       popped (1: push and pop): for callgrind's instruction counts. Fails on a wrong checksum.
//   RingComparison rounds [N]
//       N (default 5) two-thread rounds of 1 Mi elements in every mode, the rings alternating
//       which runs first; prints each round's Swift ÷ C throughput and their median.
//   RingComparison replay ours|libbpf|none ROUNDS [FRAMES]
//       the perf-buffer readers on one buffer the generator program fills (ReaderReplay; root).

let capacity = 4096
let batches = [1, 64]

func fail(_ message: String) -> Never {
    let line = "RingComparison: \(message)\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    exit(1)
}

func modeName(elementSize: Int, batch: Int) -> String {
    "\(elementSize) B, \(batch == 1 ? "unbatched" : "batch \(batch)")"
}

func roundTrip(_ arguments: ArraySlice<String>) {
    let values = arguments.dropFirst().compactMap { Int($0) }
    guard arguments.count == 4, let language = arguments.first, ["swift", "c"].contains(language), values.count == 3,
          RingTransfer.elementSizes.contains(values[0]), (1...capacity).contains(values[1]), values[2] > 0
    else { fail("usage: round-trip swift|c SIZE(\(RingTransfer.elementSizes)) BATCH(1...\(capacity)) COUNT") }
    let transfer = RingTransfer(count: UInt64(values[2]), batch: values[1])
    let checksum = language == "c"
        ? transfer.cRoundTrip(elementSize: values[0], capacity: capacity)
        : transfer.swiftRoundTrip(elementSize: values[0], capacity: capacity)
    guard checksum == RingTransfer.expectedChecksum(transfer.count) else { fail("\(language) ring: wrong checksum \(checksum)") }
}

func rounds(_ count: Int) {
    print("Swift ÷ C elements per second, \(count) rounds of 1 Mi elements through \(capacity) slots, each round both rings")
    for batch in batches {
        for elementSize in RingTransfer.elementSizes {
            let transfer = RingTransfer(count: 1 << 20, batch: batch)
            var ratios: [Double] = []
            for round in 0..<count {
                switch transfer.race(elementSize: elementSize, capacity: capacity, cFirst: round % 2 == 1) {
                case .failure(let wrong): fail("\(wrong)")
                case .success(let seconds): ratios.append(seconds.c / seconds.swift)
                }
            }
            let sorted = ratios.sorted()
            let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            let name = modeName(elementSize: elementSize, batch: batch)
            print("\(name)\(String(repeating: " ", count: max(1, 18 - name.count)))rounds \(ratios.map { format($0) }.joined(separator: " "))  median \(format(median))")
        }
    }
}

func format(_ ratio: Double) -> String {
    let hundredths = Int((ratio * 100).rounded())
    return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
}

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "round-trip": roundTrip(arguments.dropFirst())
case "rounds":
    guard arguments.count <= 2, let count = arguments.count == 2 ? Int(arguments.last!) : 5, count >= 1 else {
        fail("usage: rounds [N ≥ 1]")
    }
    rounds(count)
case "replay":
    let values = arguments.dropFirst(2).compactMap { Int($0) }
    guard (3...4).contains(arguments.count), let reader = ReaderReplay.Reader(rawValue: arguments.dropFirst().first!),
          values.count == arguments.count - 2, values[0] > 0, (1...127).contains(values.count > 1 ? values[1] : 16)
    else { fail("usage: replay ours|libbpf|none ROUNDS [FRAMES 1...127]") }
    do {
        print(try ReaderReplay(reader: reader, rounds: values[0], frames: values.count > 1 ? values[1] : 16).run())
    } catch {
        fail("\(error)")
    }
default: fail("usage: RingComparison round-trip swift|c SIZE BATCH COUNT | rounds [N] | replay ours|libbpf|none ROUNDS [FRAMES]")
}
