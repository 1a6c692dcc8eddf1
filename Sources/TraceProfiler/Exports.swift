// What an embedder needs beside `Profiler`, re-exported: one import gives the protocols a
// reporter conforms to (`TraceReporter`), the vocabulary it receives (`Trace`, `TraceHash`,
// `TraceEventMeta`), and the engine's, kernel's and symbolizer's configuration types.
@_exported public import KernelPath
@_exported public import Symbolization
@_exported public import TraceEngine
@_exported public import TraceHandler
@_exported public import TraceModel
