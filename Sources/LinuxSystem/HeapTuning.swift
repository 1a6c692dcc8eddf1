internal import CLinuxShims

/// How a long-running process makes glibc's allocator give back what it frees.
///
/// The agent's memory comes in two shapes: a steady working set (pools, caches, tables), and
/// short bursts while a file's symbol or unwind table is built or an interval is encoded — tens
/// of MiB for a large binary, freed a moment later. Left at its defaults, glibc keeps most of a
/// burst: once a large block is freed it raises its mmap threshold to that block's size
/// (up to 32 MiB), so the next bursts come from the heap arenas of the worker threads, which
/// give memory back only from their top. On this machine that held 40–70 MiB of free memory in
/// the arenas of the symbolize and unwind workers (design/export.md).
///
/// These are settings of the whole process: the agent makes them; a host that embeds the
/// engine decides for its own process.
public enum HeapTuning {
    /// Fixes the mmap threshold at `bytes` (which turns off glibc's raising of it): blocks at
    /// least that large are mapped on their own and unmapped when freed.
    public static func mapLargeBlocks(atLeast bytes: Int32 = 128 << 10) {
        _ = th_malloc_map_large_blocks(bytes)
    }

    /// Returns the free pages of every arena to the kernel (`malloc_trim(0)`). It walks the
    /// arenas' free lists: cheap once an interval, not per sample.
    public static func releaseFreePages() {
        _ = th_malloc_release_free_pages()
    }
}
