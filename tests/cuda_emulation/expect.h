// EXPECT(cond): the emulation programs' check; prints the failed condition
// and exits 1 (the test reads the exit code).
#pragma once

#include <cstdio>
#include <cstdlib>

#define EXPECT(cond)                                                          \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
      std::exit(1);                                                           \
    }                                                                         \
  } while (0)
