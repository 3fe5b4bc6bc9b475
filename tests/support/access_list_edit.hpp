// Edits an AccessList the way a faulty or hostile producer would: replace one entry's reads,
// writes or adds, add a key to the table. For tests of lists that differ from what a block does.
#pragma once

#include <cstdint>
#include <utility>
#include <span>
#include <vector>

#include "engine/access_list.hpp"

namespace pel::testing {

inline std::vector<std::uint32_t> ids_of(std::span<const std::uint32_t> span) { return {span.begin(), span.end()}; }

/// Rebuilds `list` with part `part` of entry `entry` replaced by `ids`.
inline void set_part(AccessList& list, std::size_t entry, AccessList::Part part, const std::vector<std::uint32_t>& ids) {
  AccessList out;
  out.keys = list.keys;
  for (std::size_t e = 0; e < list.entries(); ++e) {
    for (std::size_t p = 0; p < AccessList::kParts; ++p) {
      const auto this_part = static_cast<AccessList::Part>(p);
      if (e == entry && this_part == part) {
        out.ids.insert(out.ids.end(), ids.begin(), ids.end());
      } else {
        auto span = list.part(e, this_part);
        out.ids.insert(out.ids.end(), span.begin(), span.end());
      }
      out.offsets.push_back(static_cast<std::uint32_t>(out.ids.size()));
    }
  }
  list = std::move(out);
}

/// The id of `key`, added to the table when it is not there (the table names each key once).
inline std::uint32_t add_key(AccessList& list, const StateKey& key) {
  for (std::uint32_t id = 0; id < list.keys.size(); ++id) {
    if (list.keys[id] == key) return id;
  }
  list.keys.push_back(key);
  return static_cast<std::uint32_t>(list.keys.size() - 1);
}

}  // namespace pel::testing
