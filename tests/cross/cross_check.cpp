// The compiled core and CPU backend against the stream contract, without Python: Random123's
// Philox4x32-10 known-answer vectors, then every case of the expected-values file that
// tests/cross/make_expected.py writes from python/fastinit/_engine/_reference.py, bit for bit.
// tests/cross/run_cross_check.sh builds it for aarch64 and runs it under qemu (or natively,
// to prove the check itself).
//
// Usage: cross_check KAT_FILE EXPECTED_FILE. Exit status 0 only when every value matches and no
// byte outside a view was written.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../csrc/core/philox.h"
#include "../../csrc/dispatch.h"

using namespace fastinit;

namespace {

constexpr unsigned char kUntouched = 0xA5;  // no fill result of these cases is all 0xA5 bytes

struct Named {
  const char* name;
  int value;
};
const Named kDTypes[] = {{"float32", int(DType::f32)},     {"float64", int(DType::f64)},
                         {"float16", int(DType::f16)},     {"bfloat16", int(DType::bf16)},
                         {"uint32", int(DType::u32)},      {"float8_e4m3fn", int(DType::f8e4m3fn)},
                         {"float8_e5m2", int(DType::f8e5m2)}};
const Named kKinds[] = {{"uniform", int(DistKind::uniform)},
                        {"normal", int(DistKind::normal)},
                        {"trunc_normal", int(DistKind::trunc_normal)},
                        {"constant", int(DistKind::constant)},
                        {"bits", int(DistKind::bits)}};

template <size_t N>
int lookup(const Named (&table)[N], const std::string& name) {
  for (const Named& n : table)
    if (name == n.name) return n.value;
  throw std::runtime_error("unknown name in the expected-values file: " + name);
}

// Reads one token and checks it is the expected keyword; false at the end of the file.
bool expect_word(std::istream& in, const char* word) {
  std::string got;
  if (!(in >> got)) return false;
  if (got != word)
    throw std::runtime_error("expected-values file: wanted '" + std::string(word) + "', got '" +
                             got + "'");
  return true;
}

int check_kat(const char* path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(std::string("cannot open ") + path);
  int vectors = 0, failures = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string name, rounds;
    if (!(fields >> name >> rounds) || name != "philox4x32" || rounds != "10") continue;
    uint32_t w[10];
    for (uint32_t& x : w) fields >> std::hex >> x;
    const Block4 got = philox4x32_10(w[0], w[1], w[2], w[3], w[4], w[5]);
    ++vectors;
    if (std::memcmp(got.w, w + 6, sizeof got.w) != 0) {
      ++failures;
      std::printf("KAT FAIL ctr %08x %08x %08x %08x key %08x %08x: got %08x %08x %08x %08x\n", w[0],
                  w[1], w[2], w[3], w[4], w[5], got.w[0], got.w[1], got.w[2], got.w[3]);
    }
  }
  if (vectors != 3) throw std::runtime_error("the KAT file should hold 3 philox4x32 10 vectors");
  std::printf("philox4x32_10 known answers: %d/%d\n", vectors - failures, vectors);
  return failures;
}

// One case: fill the view through fastinit::fill, compare the checked elements in logical
// order, then require every byte outside the view to be untouched. Returns the mismatches.
int64_t check_case(std::istream& in, int64_t& checked) {
  std::string name, dtype_name, kind_name, p[4];
  uint64_t key, stream, index_offset;
  in >> name >> dtype_name >> kind_name >> key >> stream >> index_offset;
  for (std::string& x : p) in >> x;
  TensorView view;
  FillRequest req;
  view.dtype = DType(lookup(kDTypes, dtype_name));
  req.fn = "cross_check";
  req.kind = DistKind(lookup(kKinds, kind_name));
  for (int i = 0; i < 4; ++i) req.params[i] = std::strtod(p[i].c_str(), nullptr);  // hex floats
  req.key = key, req.stream = stream, req.index_offset = index_offset;

  int64_t offset, nbuf, ng, every, count;
  expect_word(in, "view");  // a truncated file fails the stream check below
  in >> view.ndim;
  for (int k = 0; k < view.ndim; ++k) in >> view.shape[k];
  for (int k = 0; k < view.ndim; ++k) in >> view.strides[k];
  in >> offset >> nbuf;
  expect_word(in, "global");
  in >> ng;
  req.global_shape.resize(ng);
  req.global_offset.resize(ng);
  for (auto& g : req.global_shape) in >> g;
  for (auto& g : req.global_offset) in >> g;
  expect_word(in, "expect");
  in >> every >> count;
  if (!in) throw std::runtime_error("expected-values file: malformed case " + name);

  const int es = elem_size(view.dtype);
  std::vector<unsigned char> buffer(size_t(nbuf * es), kUntouched), touched(size_t(nbuf), 0);
  view.data = buffer.data() + offset * es;
  fill(view, req);

  int64_t numel = 1, mismatches = 0;
  for (int k = 0; k < view.ndim; ++k) numel *= view.shape[k];
  for (int64_t i = 0; i < numel; ++i) {
    int64_t at = offset, rest = i;  // memory position of logical element i (C order)
    for (int k = view.ndim - 1; k >= 0; --k) {
      at += (rest % view.shape[k]) * view.strides[k];
      rest /= view.shape[k];
    }
    touched[size_t(at)] = 1;
    if (i % every != 0 && i != numel - 1) continue;
    uint64_t want = 0, got = 0;
    in >> std::hex >> want >> std::dec;
    std::memcpy(&got, buffer.data() + at * es, size_t(es));  // little-endian on both targets
    ++checked;
    if (got != want && ++mismatches <= 5)
      std::printf("FAIL %s: element %lld got %llx want %llx\n", name.c_str(), (long long)i,
                  (unsigned long long)got, (unsigned long long)want);
  }
  for (int64_t j = 0; j < nbuf; ++j) {
    if (touched[size_t(j)]) continue;
    for (int b = 0; b < es; ++b)
      if (buffer[size_t(j * es + b)] != kUntouched) {
        std::printf("FAIL %s: buffer element %lld outside the view was written\n", name.c_str(),
                    (long long)j);
        ++mismatches;
        break;
      }
  }
  if (!in) throw std::runtime_error("expected-values file: too few values for " + name);
  return mismatches;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s KAT_FILE EXPECTED_FILE\n", argv[0]);
    return 2;
  }
  try {
    std::printf("cpu kernel build: %s\n", cpu::isa_name());
    int64_t failures = check_kat(argv[1]), cases = 0, failed_cases = 0, checked = 0;
    std::ifstream in(argv[2]);
    if (!in) throw std::runtime_error(std::string("cannot open ") + argv[2]);
    while (expect_word(in, "case")) {
      const int64_t bad = check_case(in, checked);
      ++cases;
      failed_cases += bad != 0;
      failures += bad;
    }
    std::printf("reference values: %lld cases, %lld values checked, %lld cases failed\n",
                (long long)cases, (long long)checked, (long long)failed_cases);
    if (cases == 0) throw std::runtime_error("no case in the expected-values file");
    std::printf(failures ? "cross check FAILED\n" : "cross check passed\n");
    return failures ? 1 : 0;
  } catch (const std::exception& e) {
    std::printf("cross check ERROR: %s\n", e.what());
    return 2;
  }
}
