// ap_types_patch_oracle.cpp -- digests of ap_int / ap_fixed results, for
// tests/fixedpoint/test_ap_types_patch_oracle.py.
//
// Built twice from this one source: against hls4ml's ap_types headers and against the copy that
// hostsw's C simulation uses (hostsw/export/csim.py adds a non-volatile twin of
// ap_private::clearUnusedBits). The two programs must print identical lines.
//
//   g++ -std=c++17 -O1 -I<ap_types> -I<dir of calls.inc> -DHOSTSW_ORACLE_CALLS='"calls.inc"'
//       hls/csim/ap_types_patch_oracle.cpp -o oracle && ./oracle
//
// calls.inc lists the tests to run, one call per line (the test shards its list over several
// programs, as template instantiations dominate the build):
//   int_construct<W, S>();  ap_[u]int<W> built from raw 64-bit patterns through every integer
//                           constructor: every low-16-bit pattern under several high parts (all
//                           bits a char / short ValType can hold), edges and random words
//   int_ops<W, S>();        arithmetic, bitwise, shift, compound assignment, increment,
//                           comparison, bit / range access, width conversions
//   fixed_ops<W, I, S, Q, O>();  ap_[u]fixed casts from doubles (ties, out of range) and from a
//                           wider ap_fixed, products, sums, an accumulator loop as in
//                           nnet::dense_latency, negation, shifts, to_double, conversions
//   fixed_q<W, I, S, Q>();  fixed_ops for every overflow mode
//
// Output: which headers were used ("headers original" / "headers hostsw-simulation-copy"), then one
// line per test and type, "<test> <type> <count> <digest>", the digest an FNV-1a hash
// over the raw bits of every result. Inputs come from a fixed-seed splitmix64 stream, so both
// programs see the same values.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <string>
#include <utility>

#include <ap_fixed.h>
#include <ap_int.h>

namespace {

uint64_t g_state = 0x9E3779B97F4A7C15ULL;

uint64_t next_u64() {  // splitmix64
  uint64_t z = (g_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct Digest {
  uint64_t h = 1469598103934665603ULL;
  uint64_t n = 0;
  void add(uint64_t v) {
    for (int i = 0; i < 8; i++) {
      h ^= (v >> (8 * i)) & 0xFF;
      h *= 1099511628211ULL;
    }
    n++;
  }
  void add_str(const std::string& s) {
    for (char c : s) add((uint64_t)(unsigned char)c);
  }
  void print(const char* test, const std::string& type) const {
    printf("%s %s %llu %016llx\n", test, type.c_str(), (unsigned long long)n,
           (unsigned long long)h);
  }
};

// raw bits of any ap_int_base / ap_fixed_base (width <= 64: one word; wider: hex string)
template <int W, bool S>
void add_bits(Digest& d, const ap_int_base<W, S>& x) {
  if (W <= 64) {
    d.add((uint64_t)x.to_uint64());
  } else {
    d.add_str(x.to_string(16));
  }
}

template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
void add_bits(Digest& d, const ap_fixed_base<W, I, S, Q, O, N>& x) {
  ap_int_base<W, false> raw;
  raw.V = x.V;  // the stored bits, unsigned
  add_bits(d, raw);
}

// interesting raw 64-bit patterns: edges around every bit position and random words
uint64_t pattern(int i) {
  if (i < 64) return 1ULL << i;
  if (i < 128) return (1ULL << (i - 64)) - 1;
  if (i < 192) return ~((1ULL << (i - 128)) - 1);
  static const uint64_t kEdges[] = {0, ~0ULL, 0x8000000000000000ULL, 0x7FFFFFFFFFFFFFFFULL};
  if (i < 196) return kEdges[i - 192];
  return next_u64() >> (next_u64() & 63);
}
const int kPatterns = 600;

// --- ap_int / ap_uint --------------------------------------------------------------------------
template <int W, bool S>
std::string int_name() {
  return std::string(S ? "ap_int<" : "ap_uint<") + std::to_string(W) + ">";
}

template <int W, bool S>
void int_construct() {
  typedef ap_int_base<W, S> T;
  Digest d;
  const uint64_t highs[] = {0, ~0ULL, 0x5A5A5A5A5A5A0000ULL, 0x8000000000010000ULL};
  if (W <= 16) {  // every value of the low 16 bits, under several high parts
    for (uint64_t hi : highs)
      for (uint64_t lo = 0; lo < 65536; lo++) {
        uint64_t v = (hi & ~0xFFFFULL) | lo;
        add_bits(d, T((long long)v));
        add_bits(d, T((unsigned long long)v));
        add_bits(d, T((int)(int64_t)v));
        add_bits(d, T((short)(int64_t)v));
        add_bits(d, T((signed char)(int64_t)v));
      }
  }
  for (int i = 0; i < 20000; i++) {
    uint64_t v = pattern(i);
    add_bits(d, T((long long)v));
    add_bits(d, T((unsigned long long)v));
    add_bits(d, T((int)(int64_t)v));
    add_bits(d, T((unsigned)(int64_t)v));
    add_bits(d, T((bool)(v & 1)));
  }
  d.print("int_construct", int_name<W, S>());
}

template <int W, bool S>
void int_ops() {
  typedef ap_int_base<W, S> T;
  Digest d;
  for (int i = 0; i < kPatterns; i++) {
    T a((long long)pattern(i)), b((long long)pattern((i * 7 + 3) % kPatterns));
    unsigned k = (unsigned)(next_u64() % (W + 3));
    add_bits(d, a + b);
    add_bits(d, a - b);
    add_bits(d, a * b);
    add_bits(d, a & b);
    add_bits(d, a | b);
    add_bits(d, a ^ b);
    add_bits(d, -a);
    add_bits(d, ~a);
    add_bits(d, a << k);
    add_bits(d, a >> k);
    add_bits(d, a + 1);
    add_bits(d, a * 3);
    add_bits(d, a - (long long)pattern(i + 1));
    if (b != 0) {
      add_bits(d, a / b);
      add_bits(d, a % b);
    }
    T c = a;
    c += b;
    add_bits(d, c);
    c -= a;
    add_bits(d, c);
    c *= b;
    add_bits(d, c);
    c <<= k;
    add_bits(d, c);
    c >>= (k / 2);
    add_bits(d, c);
    c &= a;
    c |= b;
    c ^= a;
    add_bits(d, c);
    ++c;
    add_bits(d, c);
    c--;
    add_bits(d, c);
    c = a * b;  // narrowing assignment
    add_bits(d, c);
    c = -b;
    add_bits(d, c);
    c[k % W] = 1;
    add_bits(d, c);
    c[(k + 1) % W] = 0;
    add_bits(d, c);
    c.range(W - 1, W / 2) = a;
    add_bits(d, c);
    add_bits(d, ap_int_base<W, S>(c.range(W / 2, 0)));
    add_bits(d, c.reverse());
    d.add((uint64_t)((a < b) | ((a == b) << 1) | ((a >= b) << 2) | (a.sign() << 3)));
    d.add((uint64_t)a.countLeadingZeros());
    add_bits(d, ap_int_base<W + 1, !S>(a));
    add_bits(d, ap_int_base<(W > 1 ? W - 1 : 1), S>(a));
    add_bits(d, ap_int_base<2 * W, S>(a));
    add_bits(d, ap_int_base<7, true>(a));
  }
  d.print("int_ops", int_name<W, S>());
}

// products of two ap_int_base of different widths / signedness, also narrowed and accumulated
template <int W1, bool S1, int W2, bool S2>
void int_mul() {
  typedef ap_int_base<W1, S1> A;
  typedef ap_int_base<W2, S2> B;
  Digest d;
  ap_int_base<W1 + W2 + 8, true> acc = 0;
  for (int i = 0; i < kPatterns; i++) {
    A a((long long)pattern(i));
    B b((long long)pattern((i * 13 + 5) % kPatterns));
    add_bits(d, a * b);
    add_bits(d, b * a);
    add_bits(d, ap_int_base<(W1 > W2 ? W1 : W2), true>(a * b));  // narrowing
    acc += a * b;
    add_bits(d, acc);
    acc -= b * a * 3;
    add_bits(d, acc);
  }
  d.print("int_mul", int_name<W1, S1>() + "*" + int_name<W2, S2>());
}

// --- ap_fixed ----------------------------------------------------------------------------------
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O>
std::string fixed_name() {
  return std::string(S ? "ap_fixed<" : "ap_ufixed<") + std::to_string(W) + "," +
         std::to_string(I) + "," + std::to_string((int)Q) + "," + std::to_string((int)O) + ">";
}

double random_double(double scale) {
  // exact multiples of fine powers of two (ties for every target), plus arbitrary doubles
  uint64_t r = next_u64();
  int64_t k = (int64_t)(next_u64() >> 40) - (1LL << 23);
  switch (r % 4) {
    case 0: return ldexp((double)k, -(int)((r >> 8) % 40)) * scale;
    case 1: return ldexp((double)k + 0.5, -(int)((r >> 8) % 30));
    case 2: return (double)(int64_t)next_u64() / 9.0e18 * scale * 4;
    default: return ldexp((double)(int64_t)(next_u64() >> 11), -(int)((r >> 8) % 80));
  }
}

template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O>
void fixed_ops() {
  typedef ap_fixed_base<W, I, S, Q, O, 0> T;
  typedef ap_fixed_base<W + 11, I + 5, true, AP_TRN, AP_WRAP, 0> Wide;
  typedef ap_fixed_base<2 * W + 8, 2 * I + 8, true, AP_TRN, AP_WRAP, 0> Acc;
  Digest d;
  const double scale = ldexp(1.0, I);
  const double specials[] = {0.0, -0.0, 1e300, -1e300, 0.5, -0.5, 1.5, -1.5, scale, -scale,
                             scale * 2, -scale * 2, ldexp(1.0, I - W), -ldexp(1.0, I - W),
                             ldexp(1.5, I - W), -ldexp(1.5, I - W), ldexp(1.0, I - W - 1)};
  for (double v : specials) add_bits(d, T(v));
  Acc acc = 0;
  for (int i = 0; i < 400; i++) {
    double x = random_double(scale), y = random_double(scale);
    T a(x), b(y);
    add_bits(d, a);
    Wide w;
    w.V = ap_int_base<W + 11, true>((long long)next_u64()).V;  // random raw bits
    T c(w);
    add_bits(d, c);
    c = w;
    add_bits(d, c);
    add_bits(d, T(-w));
    add_bits(d, a * b);
    add_bits(d, a + b);
    add_bits(d, a - b);
    add_bits(d, -a);
    add_bits(d, a << 2);
    add_bits(d, a >> 3);
    T e = a;
    e += b;
    add_bits(d, e);
    e -= a;
    add_bits(d, e);
    e *= b;
    add_bits(d, e);
    e = a * b;
    add_bits(d, e);
    acc += a * b;  // an exact accumulator
    add_bits(d, acc);
    T m = acc;  // the result cast
    add_bits(d, m);
    double back = a.to_double();
    uint64_t bits;
    memcpy(&bits, &back, 8);
    d.add(bits);
    d.add((uint64_t)((a < b) | ((a == b) << 1) | ((a > 0) << 2)));
    add_bits(d, ap_fixed_base<8, 3, true, Q, O, 0>(w));
    add_bits(d, ap_int_base<W, S>(a));  // to integer
  }
  d.print("fixed_ops", fixed_name<W, I, S, Q, O>());
}

// every overflow mode for one quantisation mode (ap_ufixed has no AP_WRAP_SM)
template <int W, int I, bool S, ap_q_mode Q>
void fixed_q() {
  fixed_ops<W, I, S, Q, AP_WRAP>();
  fixed_ops<W, I, S, Q, AP_SAT>();
  fixed_ops<W, I, S, Q, AP_SAT_ZERO>();
  fixed_ops<W, I, S, Q, AP_SAT_SYM>();
  if constexpr (S) fixed_ops<W, I, S, Q, AP_WRAP_SM>();
}

}  // namespace

// The calls to run: one per line (e.g. "int_ops<20, true>();"), from the file named by
// -DHOSTSW_ORACLE_CALLS='"calls.inc"' (tests shard the list over several programs).
int main() {
#ifdef HOSTSW_SIM_AP_TYPES
  printf("headers hostsw-simulation-copy\n");
#else
  printf("headers original\n");
#endif
#include HOSTSW_ORACLE_CALLS
  return 0;
}
