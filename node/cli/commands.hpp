// The subcommands of the `pel` CLI (internal to the executable).
#pragma once

#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace pel::cli {

struct Command {
  const char* name;
  const char* summary;
  void (*add_options)(boost::program_options::options_description&);
  /// Returns the exit status; prints its own errors.
  int (*run)(const boost::program_options::variables_map&);
  const char* positional = nullptr;  // name of a positional argument list, if any
};

const Command* find_command(const std::string& name);
/// Parses `args` for `cmd` (handling --help and usage errors) and runs it.
int run_command(const Command& cmd, const std::vector<std::string>& args);

}  // namespace pel::cli
