// liblzma, for the xz-compressed mini symbol table (`.gnu_debugdata`) of stripped ELF files.
#pragma once
#include <lzma.h>
