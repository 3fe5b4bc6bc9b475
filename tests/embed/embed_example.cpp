// Embedding pel in a node: create a chain, execute a block of generated transactions in
// parallel, commit it, reopen the chain and read the head and an account back.
#include <cstdio>
#include <filesystem>

#include "engine/ledger/genesis.hpp"
#include "engine/ledger/records.hpp"
#include "engine/ledger/state_keys.hpp"
#include "engine/ledger/workload.hpp"
#include "node/chain.hpp"

int main() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "pel-embed-example";
  fs::remove_all(dir);

  pel::ChainOptions options;
  options.datadir = dir.string();
  options.threads = 2;
  pel::ledger::GenesisParams genesis;
  genesis.accounts = 500;

  pel::Hash256 committed;
  {
    auto chain = pel::Chain::create(options, genesis);
    if (!chain.is_ok()) {
      std::fprintf(stderr, "create: %s\n", chain.status().to_string().c_str());
      return 1;
    }
    pel::ledger::WorkloadParams workload;
    workload.name = "mix";
    workload.accounts = genesis.accounts;
    workload.block_size = 400;
    pel::ledger::WorkloadGenerator generator(genesis, workload);

    auto executed = (*chain)->execute(generator.next_block(), 1, pel::ledger::account_address(genesis.seed, 0));
    if (!executed.is_ok()) {
      std::fprintf(stderr, "execute: %s\n", executed.status().to_string().c_str());
      return 1;
    }
    std::printf("executed block %llu: %zu receipts, %llu executions, state root %s\n",
                static_cast<unsigned long long>(executed->block.header.height), executed->receipts.size(),
                static_cast<unsigned long long>(executed->stats.executions),
                executed->block.header.state_root.hex().c_str());
    if (pel::Status s = (*chain)->commit(*executed); !s.is_ok()) {
      std::fprintf(stderr, "commit: %s\n", s.to_string().c_str());
      return 1;
    }
    committed = (*chain)->head_hash();
  }

  auto reopened = pel::Chain::open(options);
  if (!reopened.is_ok() || (*reopened)->head_hash() != committed || !(*reopened)->verify_state().is_ok()) {
    std::fprintf(stderr, "reopen did not give back the committed head\n");
    return 1;
  }
  const pel::Address first = pel::ledger::account_address(genesis.seed, 1);
  auto value = (*reopened)->get_state(pel::ledger::account_key(first));
  auto account = !value.is_ok()  ? pel::Result<pel::ledger::AccountRecord>(value.status())
                 : value->has_value() ? pel::ledger::AccountRecord::decode(pel::as_bytes(**value))
                                      : pel::Result<pel::ledger::AccountRecord>(pel::error(pel::ErrorCode::kNotFound, "no account"));
  if (!account.is_ok()) {
    std::fprintf(stderr, "account: %s\n", account.status().to_string().c_str());
    return 1;
  }
  std::printf("reopened at height %llu (%s); account %s: balance %llu, nonce %llu\n",
              static_cast<unsigned long long>((*reopened)->head().height), committed.hex().c_str(),
              first.hex().c_str(), static_cast<unsigned long long>(account->balance),
              static_cast<unsigned long long>(account->nonce));
  reopened = pel::Result<std::unique_ptr<pel::Chain>>(pel::error(pel::ErrorCode::kAborted, "closed"));
  fs::remove_all(dir);
  return 0;
}
