// The `pel` command line: a thin layer over the node library. Every subcommand has --help;
// errors print one line on stderr and exit non-zero.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "node/cli/commands.hpp"

#if defined(PEL_WITH_MIMALLOC)
#include <mimalloc.h>

// mimalloc's own operator new aborts when memory runs out: it is C, and from its shared library
// it cannot see a C++ new-handler. These replace it for the pel executable and throw
// std::bad_alloc as the standard allocator does, so running out of memory ends in pel's own
// message (and a transaction that ran out on a discarded speculative view is retried). Nothing
// is thrown from inside mimalloc or from C code: plain malloc still returns null.
namespace {
void* allocate(std::size_t size) {
  if (void* p = mi_malloc(size)) return p;
  throw std::bad_alloc();
}
void* allocate_aligned(std::size_t size, std::align_val_t alignment) {
  if (void* p = mi_malloc_aligned(size, static_cast<std::size_t>(alignment))) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void* operator new(std::size_t size, std::align_val_t alignment) { return allocate_aligned(size, alignment); }
void* operator new[](std::size_t size, std::align_val_t alignment) { return allocate_aligned(size, alignment); }
void operator delete(void* p) noexcept { mi_free(p); }
void operator delete[](void* p) noexcept { mi_free(p); }
void operator delete(void* p, std::size_t) noexcept { mi_free(p); }
void operator delete[](void* p, std::size_t) noexcept { mi_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { mi_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { mi_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { mi_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { mi_free(p); }
#endif

namespace {

void print_usage() {
  std::cout << "pel - parallel Block-STM transaction execution engine\n\n"
               "usage: pel <command> [options]   (pel <command> --help for its options)\n\n"
               "commands:\n"
               "  demo      make a chain, produce mix blocks in parallel, replay, print throughput\n"
               "  init      create a chain directory with a genesis\n"
               "  produce   generate blocks from a workload, execute in parallel, commit each\n"
               "  export    write stored blocks to a file\n"
               "  import    verify, execute and commit the blocks of a file\n"
               "  replay    re-execute the stored chain and verify every header's roots\n"
               "  snapshot  write the state at a height, with its signed block, to a file of hashed chunks\n"
               "  verify-range  verify a range of blocks from a snapshot at the height before it\n"
               "  inspect   show the head, a block or an account\n"
               "  bench     sequential vs Block-STM throughput over a grid of workloads\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  const pel::cli::Command* cmd = pel::cli::find_command(command);
  if (!cmd) {
    std::cerr << "pel: unknown command '" << command << "' (see pel --help)\n";
    return 2;
  }
  return pel::cli::run_command(*cmd, args);
}
