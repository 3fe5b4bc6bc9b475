#include "node/block_file.hpp"

#include <filesystem>
#include <fstream>
#include <new>
#include <optional>

#include "node/prepared_block.hpp"
#include "node/read_ahead.hpp"

namespace pel {
namespace {

constexpr char kMagic[8] = {'P', 'E', 'L', 'B', 'L', 'O', 'C', 'K'};
// 2: headers carry the producer's signature, the genesis parameters name the producer.
// 3: state roots use the AES-128-CTR lattice element hash (crypto/lattice_hash.hpp).
// 4: blocks carry access lists.
// 5: a proposal's tallies and a validator's total stake are keys of their own (ledger
//    records.hpp), so dao and staking blocks' receipts and state roots differ.
// 6: access lists name the keys a transaction only added to (encoding 2), apart from its writes.
// 7: the genesis hash commits to the genesis parameters (its producer included), so every
//    block's parent chain differs; access lists are canonical.
constexpr std::uint32_t kVersion = 7;
constexpr std::uint32_t kMaxRecordBytes = 256u << 20;

void write_u32(std::ofstream& out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.write(b, 4);
}

// Reads exactly n bytes; returns how many were read.
std::size_t read_exact(std::ifstream& in, char* dst, std::size_t n) {
  in.read(dst, static_cast<std::streamsize>(n));
  return static_cast<std::size_t>(in.gcount());
}

std::uint32_t le_u32(const unsigned char* b) {
  return static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
         static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
}

}  // namespace

Status export_blocks(const Chain& chain, const std::string& path, std::uint64_t from, std::uint64_t to) {
  if (from < 1 || from > to || to > chain.head().height) {
    return error(ErrorCode::kInvalidArgument, "export range " + std::to_string(from) + ".." +
                                                  std::to_string(to) + " is not within 1.." +
                                                  std::to_string(chain.head().height));
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return error(ErrorCode::kIo, path + ": cannot open for writing");
  out.write(kMagic, sizeof(kMagic));
  write_u32(out, kVersion);
  Bytes genesis = encode_genesis_params(chain.genesis());
  write_u32(out, static_cast<std::uint32_t>(genesis.size()));
  out.write(reinterpret_cast<const char*>(genesis.data()), static_cast<std::streamsize>(genesis.size()));
  for (std::uint64_t h = from; h <= to; ++h) {
    auto block = chain.block_at(h);
    if (!block.is_ok()) return block.status();
    Bytes bytes = block->encode();
    write_u32(out, static_cast<std::uint32_t>(bytes.size()));
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  out.flush();
  if (!out) return error(ErrorCode::kIo, path + ": write failed");
  return Status::ok();
}

namespace {

// One block read from the file and prepared (prepare_block), or the end of the file (no
// block), or the error that stopped reading.
struct Prefetched {
  Status status;
  std::optional<PreparedBlock> prepared;
};

// `file_size` bounds what a record's length prefix may claim before anything is allocated for
// it. A block the import skips is not prepared; the others are, for `decode_for`'s import.
Prefetched read_and_verify_block(std::ifstream& in, const std::string& path, std::uint64_t file_size,
                                 std::uint64_t index, SignaturePolicy signatures, int threads, const Chain* decode_for,
                                 std::uint64_t skipped_through) {
  Prefetched out;
  const std::string where = path + ": block record " + std::to_string(index);
  unsigned char word[4];
  std::size_t got = read_exact(in, reinterpret_cast<char*>(word), 4);
  if (got == 0 && !in.bad()) return out;  // clean end of file
  if (in.bad()) {
    out.status = error(ErrorCode::kIo, where + ": read error");
    return out;
  }
  if (got != 4) {
    out.status = error(ErrorCode::kInvalidArgument, where + ": truncated length");
    return out;
  }
  std::uint32_t len = le_u32(word);
  if (len > kMaxRecordBytes) {
    out.status = error(ErrorCode::kInvalidArgument, where + ": implausible length " + std::to_string(len));
    return out;
  }
  const auto position = static_cast<std::uint64_t>(in.tellg());
  if (len > file_size - std::min(file_size, position)) {
    out.status = error(ErrorCode::kInvalidArgument, where + ": truncated block (length " + std::to_string(len) +
                                                        ", " + std::to_string(file_size - std::min(file_size, position)) +
                                                        " bytes left in the file)");
    return out;
  }
  Bytes bytes(len);
  if (read_exact(in, reinterpret_cast<char*>(bytes.data()), len) != len) {
    out.status = error(ErrorCode::kInvalidArgument, where + ": truncated block");
    return out;
  }
  auto block = Block::decode(bytes);
  if (!block.is_ok()) {
    out.status = block.status().with_context(where);
    return out;
  }
  // A block the import skips (held already, or before the chain's snapshot) is not executed.
  if (block->header.height <= skipped_through) {
    out.prepared = PreparedBlock{.block = std::move(block).value(), .signature_ok = {}, .access_list = {}};
    return out;
  }
  out.prepared = prepare_block(std::move(block).value(), signatures, threads, decode_for);
  return out;
}

// read_and_verify_block, with running out of memory reported as that record's error.
Prefetched read_and_verify(std::ifstream& in, const std::string& path, std::uint64_t file_size, std::uint64_t index,
                           SignaturePolicy signatures, int threads, const Chain* decode_for,
                           std::uint64_t skipped_through) {
  try {
    return read_and_verify_block(in, path, file_size, index, signatures, threads, decode_for, skipped_through);
  } catch (const std::bad_alloc&) {
    Prefetched out;
    out.status = error(ErrorCode::kAborted, path + ": block record " + std::to_string(index) +
                                                ": out of memory reading this block (fewer --threads, or more memory)");
    return out;
  }
}

}  // namespace

Status import_blocks(Chain& chain, const std::string& path, const ImportOptions& options) {
  // A FIFO or a device would block the open, or end nowhere: a block file is a file.
  std::error_code type_error;
  if (!std::filesystem::is_regular_file(path, type_error)) {
    return error(ErrorCode::kInvalidArgument,
                 path + (std::filesystem::exists(path, type_error) ? ": not a regular file" : ": no such file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(ErrorCode::kIo, path + ": cannot open");
  std::error_code size_error;
  const std::uint64_t file_size = std::filesystem::file_size(path, size_error);
  if (size_error) return error(ErrorCode::kIo, path + ": " + size_error.message());
  char magic[8];
  unsigned char word[4];
  if (read_exact(in, magic, 8) != 8 || !std::equal(magic, magic + 8, kMagic)) {
    return error(ErrorCode::kInvalidArgument, path + ": not a pel block file");
  }
  if (read_exact(in, reinterpret_cast<char*>(word), 4) != 4) return error(ErrorCode::kInvalidArgument, path + ": truncated header");
  if (le_u32(word) != kVersion) {
    return error(ErrorCode::kInvalidArgument, path + ": block file format version " + std::to_string(le_u32(word)) +
                                                  ", this pel reads version " + std::to_string(kVersion) +
                                                  " (export it again with this pel)");
  }
  if (read_exact(in, reinterpret_cast<char*>(word), 4) != 4 || le_u32(word) > 4096) {
    return error(ErrorCode::kInvalidArgument, path + ": truncated header");
  }
  Bytes genesis(le_u32(word));
  if (read_exact(in, reinterpret_cast<char*>(genesis.data()), genesis.size()) != genesis.size()) {
    return error(ErrorCode::kInvalidArgument, path + ": truncated header");
  }
  if (genesis != encode_genesis_params(chain.genesis())) {
    return error(ErrorCode::kInvalidArgument,
                 path + ": made from other genesis parameters than " + chain.options().datadir);
  }
  // A three-stage pipeline: while block k executes, a second thread reads block k+1 and checks
  // its signatures, and block k-1 is written to the database in the background (pipeline on).
  // Only the reading thread touches the stream until its result is taken.
  const SignaturePolicy signatures = chain.options().signatures;
  const int threads = chain.options().threads;
  auto durable = [&options](const ExecutedBlock& executed) {
    if (options.on_block) options.on_block(executed.block);
  };
  const DiscardCallbacksOnExit guard(chain);  // no callback outlives `options` and `durable`
  const Chain* decode_for = chain.options().use_access_lists ? &chain : nullptr;
  const std::uint64_t skipped_through = chain.head().height;  // blocks the chain holds or starts after
  Prefetched current = read_and_verify(in, path, file_size, 0, signatures, threads, decode_for, skipped_through);
  ReadAhead<Prefetched> ahead([&](std::uint64_t index) {
    return read_and_verify(in, path, file_size, index, signatures, threads, decode_for, skipped_through);
  });
  for (std::uint64_t index = 0;; ++index) {
    if (!current.status.is_ok() || !current.prepared) {
      // Whatever stopped the reading, the blocks before it are written out and reported.
      PEL_TRY(chain.flush());
      return current.status;
    }
    const Block& block = current.prepared->block;
    if (options.to && block.header.height > *options.to) {
      PEL_TRY(chain.flush());
      return Status::ok();
    }
    ahead.start(index + 1);
    const std::string record = path + ": block record " + std::to_string(index);
    if (block.header.height < chain.base_height()) {
      if (options.on_skip) options.on_skip(block);  // before the snapshot the chain was made from
      current = ahead.take();
      continue;
    }
    if (block.header.height <= chain.head().height) {
      // Already stored (an earlier import of the same file was interrupted): skip it if it is
      // the same block, refuse a fork.
      auto stored = chain.block_at(block.header.height);
      if (!stored.is_ok() || stored->header.hash() != block.header.hash()) {
        ahead.wait();
        PEL_TRY(chain.flush());
        if (!stored.is_ok()) return stored.status().with_context(record);
        return error(ErrorCode::kVerification,
                     record + ": height " + std::to_string(block.header.height) + ": block " +
                         block.header.hash().hex() + " forks from the stored block " + stored->header.hash().hex());
      }
      if (options.on_skip) options.on_skip(block);
      current = ahead.take();
      continue;
    }
    const std::vector<std::uint8_t>* signature_ok =
        signatures == SignaturePolicy::kVerify ? &current.prepared->signature_ok : nullptr;
    const DecodedAccessList* list = current.prepared->access_list ? &*current.prepared->access_list : nullptr;
    Status imported;
    try {
      imported = options.pipeline ? chain.import_async(block, signature_ok, durable, list)
                                  : chain.import(block, signature_ok, durable, list);
    } catch (const std::bad_alloc&) {
      imported = error(ErrorCode::kAborted, "height " + std::to_string(block.header.height) +
                                                ": out of memory importing this block (fewer --threads, or more memory)");
    }
    if (!imported.is_ok()) {
      ahead.wait();
      // The blocks before this one are still written; a failure there came first.
      PEL_TRY(chain.flush());
      // A background write of an earlier block failed (the head went back below this block's
      // parent): its message names that block's height, not this record.
      if (chain.broken() && chain.head().height + 1 < block.header.height) return imported.with_context(path);
      return imported.with_context(record);
    }
    current = ahead.take();
  }
}

}  // namespace pel
