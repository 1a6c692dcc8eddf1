import Foundation
import KernelPath
import Symbolization
import Testing
import TraceEngine
import TraceModel
import TraceReporters

/// Whole stacks for code built the way distributions build it (`gcc -O2`, no frame pointers):
/// the sampler copies each sample's user stack, the unwind stage walks it with the files' CFI,
/// and the profile's stacks reach `main` — through a shared library, glibc's `qsort` calling
/// back into the program, a signal handler, and the kernel's vDSO (`clock_gettime`).
@Suite(.serialized, .enabled(if: KernelSupport.missingCapability() == nil, "\(KernelSupport.missingCapability() ?? "")"))
struct DWARFUnwindingTests {
    static let library = """
        __attribute__((noinline)) unsigned long th_lib_churn(unsigned long x) {
            for (int i = 0; i < 2000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
            return x;
        }
        __attribute__((noinline)) unsigned long th_lib_call(unsigned long (*f)(unsigned long), unsigned long x) {
            return th_lib_churn(f(x)) + 1;
        }
        """

    static let program = """
        #include <signal.h>
        #include <stdlib.h>
        #include <string.h>
        #include <time.h>
        unsigned long th_lib_call(unsigned long (*f)(unsigned long), unsigned long x);
        static volatile unsigned long sink;
        __attribute__((noinline)) static unsigned long work(unsigned long x) {
            for (int i = 0; i < 3000; i++) x = x * 2862933555777941757UL + 3037000493UL;
            return x;
        }
        __attribute__((noinline)) static int compare(const void *a, const void *b) {
            sink = work(sink);
            return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
        }
        __attribute__((noinline)) static void on_signal(int signal) { sink = work(sink + signal); }
        __attribute__((noinline)) static void through_library(void) { sink = th_lib_call(work, sink); sink++; }
        __attribute__((noinline)) static void through_qsort(void) {
            int values[64];
            for (int i = 0; i < 64; i++) values[i] = (int)((sink >> (i % 32)) & 1023);
            qsort(values, 64, sizeof(int), compare);
            sink++;
        }
        __attribute__((noinline)) static void through_signal(void) { raise(SIGUSR1); sink++; }
        __attribute__((noinline)) static void through_clock(void) {
            struct timespec now;
            for (int i = 0; i < 100; i++) { clock_gettime(CLOCK_MONOTONIC, &now); sink += now.tv_nsec; }
        }
        int main(int argc, char **argv) {
            // A test runner's children may inherit SIGUSR1 blocked.
            sigset_t usr1;
            sigemptyset(&usr1);
            sigaddset(&usr1, SIGUSR1);
            sigprocmask(SIG_UNBLOCK, &usr1, 0);
            signal(SIGUSR1, on_signal);
            time_t end = time(0) + 60;
            while (time(0) < end) {
                if (!strcmp(argv[1], "library")) through_library();
                else if (!strcmp(argv[1], "qsort")) through_qsort();
                else if (!strcmp(argv[1], "vdso")) through_clock();
                else through_signal();
            }
            return (int)(sink & 1);
        }
        """

    /// The fixture built once: `-O2 -fomit-frame-pointer`, as distributions build.
    static let built: Result<URL, Error> = Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("th-dwarf-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try library.write(to: directory.appendingPathComponent("lib.c"), atomically: true, encoding: .utf8)
        try program.write(to: directory.appendingPathComponent("main.c"), atomically: true, encoding: .utf8)
        let flags = ["-O2", "-fomit-frame-pointer"]
        try compile(flags + ["-shared", "-fPIC", "-o", directory.appendingPathComponent("libthdwarf.so").path, directory.appendingPathComponent("lib.c").path])
        try compile(flags + ["-o", directory.appendingPathComponent("th-dwarf-fix").path, directory.appendingPathComponent("main.c").path,
                             "-L", directory.path, "-lthdwarf", "-Wl,-rpath," + directory.path])
        return directory
    }

    static func compile(_ arguments: [String]) throws {
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: "/usr/bin/gcc")
        compiler.arguments = arguments
        try compiler.run()
        compiler.waitUntilExit()
        guard compiler.terminationStatus == 0 else { throw BusyChild.CompileError(status: compiler.terminationStatus) }
    }

    /// The fixture's folded stacks, with its mode running, sampled with DWARF unwinding.
    private func profile(_ mode: String) async throws -> [String] {
        let directory = try Self.built.get()
        let child = Process()
        child.executableURL = directory.appendingPathComponent("th-dwarf-fix")
        child.arguments = [mode]
        try child.run()
        defer {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        let reporter = FoldedStacksReporter()
        let (_, statistics) = try await sample(
            pid: child.processIdentifier, kind: .perfBuffer, processor: try NativeSymbolizer(), reporter: reporter,
            unwinder: try DWARFUnwinder())
        #expect(statistics.isConserved, "\(statistics)")
        #expect(statistics.stage(.unwind(worker: 0))?[.received] ?? 0 > 0, "\(statistics)")
        return reporter.foldedLines().filter { $0.hasPrefix("th-dwarf-fix;") }
    }

    /// Samples whose line satisfies `predicate`, and all samples.
    private func share(_ lines: [String], _ predicate: (String) -> Bool) -> (matching: Int, all: Int) {
        var matching = 0
        var all = 0
        for line in lines {
            guard let space = line.lastIndex(of: " "), let count = Int(line[line.index(after: space)...]) else { continue }
            all += count
            if predicate(String(line[..<space])) { matching += count }
        }
        return (matching, all)
    }

    /// `percent`: the share that must reach main. The signal loop's samples inside `rt_sigreturn`
    /// (a tenth of them: it signals itself every few microseconds) stand just past the
    /// trampoline's CFI; they reach main through its rule (85 % did before).
    @Test(arguments: [
        ("library", ";main;through_library;th_lib_call;", 95),
        ("qsort", ";main;through_qsort;", 95),
        ("signal", ";main;through_signal;", 95),
        ("vdso", ";main;through_clock;clock_gettime;__vdso_clock_gettime", 95),
    ])
    func stacksWithoutFramePointersReachMain(mode: String, chain: String, percent: Int) async throws {
        let lines = try await profile(mode)
        let reachMain = share(lines) { $0.contains(";main;") }
        #expect(reachMain.all >= 100, "\(reachMain.all) samples")
        #expect(reachMain.matching * 100 >= reachMain.all * percent, "\(reachMain.matching) of \(reachMain.all) reach main: \(lines.prefix(5))")
        let throughChain = share(lines) { $0.contains(chain) }
        #expect(throughChain.matching * 2 >= throughChain.all, "\(throughChain.matching) of \(throughChain.all) through \(chain): \(lines.prefix(5))")
    }

    @Test func theCallbackFromQsortAndTheSignalHandlerAreInTheChain() async throws {
        let sorted = share(try await profile("qsort")) { $0.contains("qsort") && $0.contains(";compare;work") }
        #expect(sorted.matching * 2 >= sorted.all, "\(sorted.matching) of \(sorted.all) in compare under qsort")
        // In the handler, every stack goes on through the signal trampoline (named at its first
        // byte) into the interrupted code and to main; the kernel's signal delivery takes the rest.
        let lines = try await profile("signal")
        let inHandler = share(lines) { $0.contains(";on_signal") }
        let whole = share(lines) { $0.contains(";main;through_signal;raise;") && $0.contains(";__restore_rt;on_signal") }
        #expect(inHandler.matching * 5 >= inHandler.all, "\(inHandler.matching) of \(inHandler.all) in the handler: \(lines.prefix(3))")
        #expect(whole.matching * 100 >= inHandler.matching * 95, "\(whole.matching) of \(inHandler.matching) handler samples whole: \(lines.prefix(3))")
    }
}
