// The `pel` command line: a thin layer over the node library. Every subcommand has --help;
// errors print one line on stderr and exit non-zero.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "node/cli/commands.hpp"

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
