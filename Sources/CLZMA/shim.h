// liblzma, for the xz-compressed mini symbol table (`.gnu_debugdata`) of stripped ELF files. A
// module of its own, as CZlib: lzma.h includes only <stdint.h> and <stddef.h>, nothing that clashes
// with the libc headers the libraries in CSystemLibraries bring.
#pragma once
#include <lzma.h>
