#include "node/block_file.hpp"

#include <fstream>
#include <future>
#include <optional>

namespace pel {
namespace {

constexpr char kMagic[8] = {'P', 'E', 'L', 'B', 'L', 'O', 'C', 'K'};
constexpr std::uint32_t kVersion = 1;
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

// One block read from the file with its signatures already checked, or the end of the file
// (no block), or the error that stopped reading.
struct Prefetched {
  Status status;
  std::optional<Block> block;
  std::vector<std::uint8_t> signature_ok;
};

// threads == 0: signatures are trusted (the chain's check_signatures is off).
Prefetched read_and_verify(std::ifstream& in, const std::string& path, std::uint64_t index, int threads) {
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
  if (threads > 0) out.signature_ok = ledger::verify_signatures(block->transactions, threads);
  out.block = std::move(block).value();
  return out;
}

}  // namespace

Status import_blocks(Chain& chain, const std::string& path, const std::function<void(const Block&)>& on_block,
                     bool pipeline) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(ErrorCode::kIo, path + ": cannot open");
  char magic[8];
  unsigned char word[4];
  if (read_exact(in, magic, 8) != 8 || !std::equal(magic, magic + 8, kMagic)) {
    return error(ErrorCode::kInvalidArgument, path + ": not a pel block file");
  }
  if (read_exact(in, reinterpret_cast<char*>(word), 4) != 4 || le_u32(word) != kVersion) {
    return error(ErrorCode::kInvalidArgument, path + ": unsupported block file version");
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
  const int threads = chain.options().check_signatures ? chain.options().threads : 0;
  auto durable = [&on_block](const ExecutedBlock& executed) {
    if (on_block) on_block(executed.block);
  };
  Prefetched current = read_and_verify(in, path, 0, threads);
  for (std::uint64_t index = 0;; ++index) {
    if (!current.status.is_ok() || !current.block) {
      // Whatever stopped the reading, the blocks before it are written out and reported.
      PEL_TRY(chain.flush());
      return current.status;
    }
    auto next = std::async(std::launch::async, read_and_verify, std::ref(in), std::cref(path), index + 1, threads);
    const std::vector<std::uint8_t>* signature_ok = threads > 0 ? &current.signature_ok : nullptr;
    Status imported;
    if (pipeline) {
      imported = chain.import_async(*current.block, signature_ok, durable);
    } else {
      imported = chain.import(*current.block, signature_ok);
      if (imported.is_ok() && on_block) on_block(*current.block);
    }
    if (!imported.is_ok()) {
      next.wait();
      // The blocks before this one are still written; a failure there came first.
      PEL_TRY(chain.flush());
      return imported.with_context(path + ": block record " + std::to_string(index));
    }
    current = next.get();
  }
}

}  // namespace pel
