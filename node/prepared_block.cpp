#include "node/prepared_block.hpp"

#include "crypto/hash.hpp"
#include "engine/ledger/transaction.hpp"

namespace pel {

PreparedBlock prepare_block(Block block, SignaturePolicy signatures, int threads, const Chain* decode_for) {
  PreparedBlock out;
  if (signatures == SignaturePolicy::kVerify) out.signature_ok = ledger::verify_signatures(block.transactions, threads);
  if (decode_for != nullptr && sha256(block.access_list) == block.header.access_list_root &&
      decode_for->check_header(block.header).is_ok()) {
    if (auto list = block.decode_access_list(); list.is_ok()) out.access_list = std::move(list).value();
  }
  out.block = std::move(block);
  return out;
}

}  // namespace pel
