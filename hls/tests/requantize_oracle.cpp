// requantize_oracle.cpp -- the training engine's runtime requantizer against ap_fixed casts.
//
// hostsw::requantize (wide) and hostsw::requantize64 (the 64-bit fast path) take the output
// precision at RUN time; an ap_fixed cast takes it at compile time. For every compiled
// (bits, output frac, signedness) below, every quantisation mode (AP_RND_CONV, AP_TRN and the
// stochastic mirror hostsw::stochastic_round of hostsw_fixed.h) and overflow mode (AP_SAT,
// AP_SAT_SYM, AP_WRAP), random and edge accumulator values on the product grid 2^-F must give the
// same integer. Prints "requantize N checks, M mismatches" and exits 1 on any mismatch.
//   g++ -std=c++17 -I<ap_types> -I<repo>/hls/include requantize_oracle.cpp
#include <stdint.h>
#include <stdio.h>

#include <ap_fixed.h>

#include "hostsw_mac.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t next_u64() {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static long checks = 0, mismatches = 0;

// the accumulator grid: 2^-F with F = 40 (values up to 2^87 in magnitude)
static const int F = 40;
typedef ap_fixed<128, 128 - F, AP_TRN, AP_WRAP> acc_fx;

template <int BITS, int FOUT, bool S, ap_q_mode Q, ap_o_mode O>
void check_one(const hostsw::wide_t& v, int rounding, int overflow, uint32_t key, uint32_t index) {
  typedef ap_fixed_base<BITS, BITS - FOUT, S, Q, O, 0> out_fx;
  acc_fx x;
  x.range(127, 0) = v.range(127, 0);
  out_fx expect;
  if (rounding == hostsw::RND_STOCHASTIC) {
    expect = hostsw::stochastic_round<out_fx>(x, hostsw::dither(key, index));
  } else {
    expect = out_fx(x);
  }
  ap_int_base<BITS, S> raw;
  raw.range(BITS - 1, 0) = expect.range(BITS - 1, 0);
  const int64_t want = raw.to_int64();
  hostsw::OutPrecision p = {F - FOUT, BITS, S, rounding, overflow, key};
  const int64_t got = hostsw::requantize(v, p, index).to_int64();
  checks++;
  if (got != want) {
    if (mismatches < 10)
      printf("mismatch bits=%d frac=%d signed=%d rnd=%d ovf=%d v=%s: got %lld want %lld\n", BITS,
             FOUT, (int)S, rounding, overflow, v.to_string(16).c_str(), (long long)got,
             (long long)want);
    mismatches++;
  }
  // the 64-bit fast path wherever it applies
  const hostsw::wide_t lim = hostsw::wide_t(1) << 62;
  if (p.shift >= 0 && p.shift <= 62 && v < lim && v > -lim) {
    const int64_t got64 = hostsw::requantize64(ap_int<64>(v), p, index).to_int64();
    checks++;
    if (got64 != want) {
      if (mismatches < 10)
        printf("mismatch (64-bit path) bits=%d frac=%d: got %lld want %lld\n", BITS, FOUT,
               (long long)got64, (long long)want);
      mismatches++;
    }
  }
}

template <int BITS, int FOUT, bool S>
void check_type() {
  for (int i = 0; i < 4000; i++) {
    hostsw::wide_t v;
    const int kind = i % 4;
    const uint64_t r1 = next_u64(), r2 = next_u64();
    if (kind == 0) {  // around the output range and its rounding boundaries
      const int sh = (int)(r1 % (BITS + 4));
      v = hostsw::wide_t((int64_t)(r2 >> (63 - (sh < 62 ? sh : 62)))) << (F - FOUT);
      v += hostsw::wide_t((int64_t)(r1 >> 40)) - (hostsw::wide_t(1) << 23);
    } else if (kind == 1) {  // exact ties of every shift
      v = (hostsw::wide_t((int64_t)(r1 >> (r2 % 60))) << 1 | 1) << ((F - FOUT > 0 ? F - FOUT : 1) - 1);
    } else if (kind == 2) {  // wide values
      v = (hostsw::wide_t((int64_t)r1) << 24) ^ hostsw::wide_t(r2 >> 8);
    } else {  // small values
      v = hostsw::wide_t((int64_t)(r1 % 2000001) - 1000000);
    }
    if (i & 8) v = -v;
    const uint32_t key = (uint32_t)r2, index = (uint32_t)(r1 >> 7);
    check_one<BITS, FOUT, S, AP_RND_CONV, AP_SAT>(v, hostsw::RND_NEAREST, hostsw::OVF_SATURATE, key, index);
    check_one<BITS, FOUT, S, AP_TRN, AP_SAT>(v, hostsw::RND_FLOOR, hostsw::OVF_SATURATE, key, index);
    check_one<BITS, FOUT, S, AP_RND_CONV, AP_WRAP>(v, hostsw::RND_NEAREST, hostsw::OVF_WRAP, key, index);
    check_one<BITS, FOUT, S, AP_TRN, AP_WRAP>(v, hostsw::RND_FLOOR, hostsw::OVF_WRAP, key, index);
    check_one<BITS, FOUT, S, AP_TRN, AP_SAT>(v, hostsw::RND_STOCHASTIC, hostsw::OVF_SATURATE, key, index);
    check_one<BITS, FOUT, S, AP_TRN, AP_WRAP>(v, hostsw::RND_STOCHASTIC, hostsw::OVF_WRAP, key, index);
    if (S) {
      check_one<BITS, FOUT, S, AP_RND_CONV, AP_SAT_SYM>(v, hostsw::RND_NEAREST, hostsw::OVF_SATURATE_SYM, key, index);
      check_one<BITS, FOUT, S, AP_TRN, AP_SAT_SYM>(v, hostsw::RND_STOCHASTIC, hostsw::OVF_SATURATE_SYM, key, index);
    }
  }
}

int main() {
  // shifts 0 (exact), 1, small, 31/32/33 (stochastic's 32-bit dither edge), large; left shifts
  // (FOUT > F); frac > bits; negative frac; 1-bit and 64-bit words
  check_type<64, 40, true>();
  check_type<63, 40, false>();
  check_type<8, 39, true>();
  check_type<8, 4, true>();
  check_type<8, 8, false>();
  check_type<16, 20, true>();
  check_type<12, 9, true>();
  check_type<20, 8, true>();
  check_type<32, 7, true>();
  check_type<24, -3, true>();
  check_type<5, 30, true>();
  check_type<1, 2, true>();
  check_type<1, 0, false>();
  check_type<40, 44, true>();
  check_type<10, 50, false>();
  check_type<33, 70, true>();
  printf("requantize %ld checks, %ld mismatches\n", checks, mismatches);
  return mismatches ? 1 : 0;
}
