// mac_engine_tb.cpp -- C++ test bench of the training MAC engine (Vitis HLS csim_design /
// cosim_design, or g++ / clang++ against hls4ml's ap_types).
//
// Runs the top function of one tier on the vector files that the Python reference wrote
// (hostsw.runtime.vectors.write_vectors) and compares every output word with the reference's.
// Usage: mac_engine_tb VECTOR_FILE... (each file: see the format below); prints one line per
// case and "N passed, M failed"; exit status 1 on any mismatch.
//
// Vector file (whitespace-separated integers):
//   hostsw-mac-vectors 1
//   tier  n_registers  registers...            (the bridge's register order, engine_source.py)
//   na a...   nb b...   nbias bias...          (nbias 0: no bias)
//   ny y...   ny2 y2...                         (expected outputs; ny2 0: no second output)
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <fstream>
#include <string>
#include <vector>

#include "hostsw_mac_top.h"  // the top functions: compile hostsw_mac_top.cpp beside this

static bool read_array(std::ifstream& in, std::vector<int64_t>& v) {
  long n = -1;
  if (!(in >> n) || n < 0) return false;
  v.resize(n);
  for (long i = 0; i < n; i++)
    if (!(in >> v[i])) return false;
  return true;
}

template <int T>
static int64_t run_tier(const std::vector<int64_t>& r, const std::vector<int64_t>& a,
                        const std::vector<int64_t>& b, const std::vector<int64_t>& bias,
                        std::vector<hostsw::out_t>& y, std::vector<hostsw::out_t>& y2,
                        bool has_y2, int64_t (*top)(int, int, int, int, int, int, int, int, int, int,
                                       const ap_int<T + 1>*, const ap_int<T + 1>*, const int64_t*,
                                       int, int, hostsw::out_t*, hostsw::out_t*, int, int, int,
                                       int, int, int, unsigned, int, int, int, int, int,
                                       unsigned)) {
  std::vector<ap_int<T + 1> > av(a.size() + 1), bv(b.size() + 1);
  for (size_t i = 0; i < a.size(); i++) av[i] = a[i];
  for (size_t i = 0; i < b.size(); i++) bv[i] = b[i];
  const bool has_bias = !bias.empty();
  return top((int)r[0], (int)r[1], (int)r[2], (int)r[3], (int)r[4], (int)r[5], (int)r[6],
             (int)r[7], (int)r[8], (int)r[9], av.data(), bv.data(),
             has_bias ? bias.data() : 0, has_bias, (int)r[10], y.data(), y2.data(), has_y2,
             (int)r[11], (int)r[12], (int)r[13], (int)r[14], (int)r[15], (unsigned)r[16],
             (int)r[17], (int)r[18], (int)r[19], (int)r[20], (int)r[21], (unsigned)r[22]);
}

int main(int argc, char** argv) {
  int passed = 0, failed = 0;
  for (int f = 1; f < argc; f++) {
    std::ifstream in(argv[f]);
    std::string magic;
    int version = 0, tier = 0, nreg = 0;
    in >> magic >> version >> tier >> nreg;
    if (magic != "hostsw-mac-vectors" || version != 1 || nreg != 23) {
      printf("%s: not a version-1 hostsw vector file\n", argv[f]);
      failed++;
      continue;
    }
    std::vector<int64_t> r(nreg), a, b, bias, y, y2;
    for (int i = 0; i < nreg; i++) in >> r[i];
    if (!read_array(in, a) || !read_array(in, b) || !read_array(in, bias) ||
        !read_array(in, y) || !read_array(in, y2)) {
      printf("%s: truncated vector file\n", argv[f]);
      failed++;
      continue;
    }
    std::vector<hostsw::out_t> got(y.size() + 1), got2(y2.size() + 1);
    int64_t cycles = -1;
    switch (tier) {
#ifdef HOSTSW_HAS_TIER_8
      case 8: cycles = run_tier<8>(r, a, b, bias, got, got2, !y2.empty(), hostsw_mac_t8); break;
#endif
#ifdef HOSTSW_HAS_TIER_16
      case 16: cycles = run_tier<16>(r, a, b, bias, got, got2, !y2.empty(), hostsw_mac_t16); break;
#endif
#ifdef HOSTSW_HAS_TIER_32
      case 32: cycles = run_tier<32>(r, a, b, bias, got, got2, !y2.empty(), hostsw_mac_t32); break;
#endif
      default:
        printf("%s: tier %d was not built\n", argv[f], tier);
    }
    long bad = 0;
    for (size_t i = 0; i < y.size(); i++) bad += got[i].to_int64() != y[i];
    for (size_t i = 0; i < y2.size(); i++) bad += got2[i].to_int64() != y2[i];
    const bool ok = cycles >= 0 && bad == 0;
    printf("%s %s: tier %d mode %lld, %zu outputs, %ld mismatches, %lld cycles\n",
           ok ? "PASS" : "FAIL", argv[f], tier, (long long)r[0], y.size() + y2.size(), bad,
           (long long)cycles);
    (ok ? passed : failed)++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
