// Every Wycheproof Ed25519 vector against pel's rule of validity (crypto/ed25519.hpp). A vector
// whose verdict differs from the file's expectation must be listed below with the reason.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "crypto/ed25519.hpp"

namespace pel {
namespace {

// tcId -> why pel's rule deliberately gives the other verdict.
const std::map<int, std::string> kDeliberateDifferences = {};

bool pel_accepts(const std::string& key_hex, const std::string& msg_hex, const std::string& sig_hex) {
  auto key_bytes = from_hex(key_hex);
  auto msg = from_hex(msg_hex);
  auto sig_bytes = from_hex(sig_hex);
  if (!key_bytes || !msg || !sig_bytes) return false;
  auto key = PublicKey::from_bytes(*key_bytes);
  auto sig = Signature::from_bytes(*sig_bytes);  // a signature of another length is refused here
  if (!key || !sig) return false;
  return verify(*key, *msg, *sig).is_ok();
}

TEST(Wycheproof, EveryEd25519VectorMatchesTheRule) {
  std::ifstream in(PEL_WYCHEPROOF_ED25519);
  ASSERT_TRUE(in) << "cannot read " << PEL_WYCHEPROOF_ED25519;
  const nlohmann::json file = nlohmann::json::parse(in);
  int checked = 0;
  int differences = 0;
  for (const auto& group : file.at("testGroups")) {
    const std::string key = group.at("publicKey").at("pk");
    for (const auto& test : group.at("tests")) {
      const int id = test.at("tcId");
      const std::string expected = test.at("result");
      ASSERT_TRUE(expected == "valid" || expected == "invalid") << "tcId " << id << ": " << expected;
      const bool accepted = pel_accepts(key, test.at("msg"), test.at("sig"));
      const bool differs = accepted != (expected == "valid");
      const bool listed = kDeliberateDifferences.contains(id);
      EXPECT_EQ(differs, listed) << "tcId " << id << " (" << test.at("comment").get<std::string>() << ", flags "
                                 << test.at("flags").dump() << "): pel " << (accepted ? "accepts" : "rejects")
                                 << ", the file expects " << expected;
      differences += differs;
      ++checked;
    }
  }
  EXPECT_EQ(checked, file.at("numberOfTests").get<int>());
  EXPECT_EQ(differences, static_cast<int>(kDeliberateDifferences.size()));
}

}  // namespace
}  // namespace pel
