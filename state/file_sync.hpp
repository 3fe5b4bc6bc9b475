// Making directory entries durable: a file whose data was synced is still lost in a power cut
// when the directory naming it was not synced since it was created (or renamed).
#pragma once

#include <string>

#include "crypto/result.hpp"

namespace pel {

/// fsync of directory `dir`: every entry created, renamed or removed in it so far is durable.
Status sync_directory(const std::string& dir);

}  // namespace pel
