// FASTINIT_ISA: the kernel build a user asks for. Read once, when the build is chosen
// (select.cpp); a value that names no build is refused rather than ignored, so a typo never
// leaves a benchmark or a test on another path than the one it names.
#pragma once
#include <cctype>
#include <string>

#include "../errors.h"

namespace fastinit {
namespace cpu {

enum class IsaRequest { best, base, avx2, avx512 };

// Unset, empty or blank: the best build this processor has. Otherwise base, avx2 or avx512 in
// any case, surrounding blanks ignored; anything else is a ValueError in one line.
inline IsaRequest isa_request(const char* value) {
  std::string v = value ? value : "";
  const auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!v.empty() && blank(v.back())) v.pop_back();
  size_t start = 0;
  while (start < v.size() && blank(v[start])) ++start;
  v.erase(0, start);
  std::string lower;
  for (unsigned char c : v) lower += char(std::tolower(c));
  if (lower.empty()) return IsaRequest::best;
  if (lower == "base") return IsaRequest::base;
  if (lower == "avx2") return IsaRequest::avx2;
  if (lower == "avx512") return IsaRequest::avx512;
  throw ValueError("fastinit: FASTINIT_ISA='" + std::string(value) +
                   "' names no kernel build: use base, avx2 or avx512 (any case), or unset it "
                   "for the best this processor has");
}

// What to tell a user whose request this processor cannot honour ("" when it is honoured):
// asking for a build wider than the processor has runs the widest it has, with the same bits.
inline std::string isa_request_note(const char* value, const std::string& running) {
  const IsaRequest asked = isa_request(value);
  const char* wanted = asked == IsaRequest::avx512 ? "avx512"
                       : asked == IsaRequest::avx2 ? "avx2"
                       : asked == IsaRequest::base ? "base" : nullptr;
  if (!wanted || running == wanted) return "";
  return "fastinit: FASTINIT_ISA='" + std::string(value) + "' asks for the " + wanted +
         " build, which this processor (or this build of fastinit) lacks: the " + running +
         " build runs (the values are the same)";
}

}  // namespace cpu
}  // namespace fastinit
