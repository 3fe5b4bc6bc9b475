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
#include <cerrno>

#include <mimalloc.h>
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
               "  inspect   show the head, a block or an account\n"
               "  bench     sequential vs Block-STM throughput over a grid of workloads\n";
}

}  // namespace

int main(int argc, char** argv) {
#if defined(PEL_WITH_MIMALLOC)
  // mimalloc's operator new aborts when memory runs out (it is C and cannot find the C++
  // new-handler from its shared library); it reports the error to this handler first, which
  // throws std::bad_alloc as the standard allocator would. Running out of memory then ends in
  // pel's own message, and a transaction that ran out on a discarded speculative view is retried.
  mi_register_error([](int err, void*) {
    if (err == ENOMEM) throw std::bad_alloc();
  }, nullptr);
#endif
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
