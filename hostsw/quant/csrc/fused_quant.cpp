// fused_quant.cpp -- one pass per tensor of hostsw.fixedpoint.quantize's float algorithm
// (scale, dither, round, saturate, scale back) for the training quantizers.
//
// This is a faster copy of ``hostsw.fixedpoint._quantize_reference`` (round_scaled +
// apply_overflow for the saturating modes), not new semantics: every step computes the number a
// torch operation there computes, in the same dtype, and tests/quant/test_fused.py checks it bit
// for bit against that reference (which tests/fixedpoint checks against ap_fixed); the float32
// stochastic threshold is checked there for every one of the 2**32 float32 inputs. The dither is
// the lowbias32 hash of hls/include/hostsw_fixed.h (repeated here because that header needs
// ap_types).
//
// Built by hostsw/quant/fused.py with the host C++ compiler, -ffp-contract=off (no fused
// multiply-add), -fno-trapping-math (lets floor vectorize; values are unchanged: only the
// floating-point exception flags, which nothing reads, may differ), never fast-math. Every loop
// body is branch-free so that the compiler vectorizes it (check with -fopt-info-vec).
#include <cmath>
#include <cstdint>

namespace {

inline uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// Stochastic rounding rounds s up iff h < T (unsigned), T = floor(s * 2**32) mod 2**32: what
// round_scaled derives as int32(int64(floor(clamp(s * 2**32, +-2**56)))) ^ INT32_MIN. For float32
// this computes the same T in float32 and uint32 lanes only (16 per AVX-512 vector; int64 and
// float64 lanes would halve that):
//   * s >= 0 or s <= -1 (finite): f = s - floor(s) is exact (Sterbenz: floor(s) lies within a
//     factor of two of s, or is 0), f * 2**32 is exact, and T = floor(f * 2**32) in [0, 2**32 - 256]
//     because floor(s) * 2**32 is a multiple of 2**32 (the float-to-uint32 conversion truncates,
//     which is floor for these non-negative values);
//   * -1 < s < 0: s - floor(s) = 1 + s may round, so T = 2**32 + floor(s * 2**32) =
//     2**32 - U with U = -floor(s * 2**32) in [1, 2**32 - 256] (exact float32 integers);
//   * +-inf and NaN: k = floor(s) + 0 or 1 is inf or NaN whatever T is (T = 0 here; the
//     conversions only ever see values in [0, 2**32)).
// Both candidates are converted and one is selected (one select per lane: cheaper than selecting
// the float first, which the compiler turns into mask-register arithmetic).
// tests/quant/test_fused.py compares this T with round_scaled's for all 2**32 float32 bit patterns.
inline uint32_t stochastic_threshold(float s, float fl) {
  const bool neg = (s < 0.0f) & (s > -1.0f);
  // a = f * 2**32 in [0, 2**32 - 256] except for neg (where it may be 2**32) and non-finite s
  // (NaN); b = U in [1, 2**32 - 256] for neg. Out-of-range lanes convert 0 instead.
  const float a = (s - fl) * 4294967296.0f;
  const float b = -std::floor(s * 4294967296.0f);
  const uint32_t ta = (uint32_t)(a < 4294967296.0f ? a : 0.0f);  // NaN compares false
  const uint32_t tb = (uint32_t)(neg ? b : 0.0f);
  return neg ? 0u - tb : ta;
}

// float64: T = floor(s * 2**32) - floor(s) * 2**32, both exact and their difference an integer in
// [0, 2**32) (representable, so the subtraction is exact) -- round_scaled's fmod without a cast.
// For |s| beyond the fraction bits both terms are equal (T = 0); inf and NaN give NaN, which
// compares false (k is non-finite there anyway).
inline bool rounds_up(double s, double fl, uint32_t h) {
  return (double)h < std::floor(s * 4294967296.0) - fl * 4294967296.0;
}

inline bool rounds_up(float s, float fl, uint32_t h) { return h < stochastic_threshold(s, fl); }

// torch.clamp_ with scalar bounds (lo <= hi): NaN stays NaN (both comparisons are false), -0
// stays -0. Written as two selects of the form "b < a ? b : a", which is exactly what the x86
// min/max instructions compute (NaN in a gives a), so each compiles to one instruction.
template <class T>
inline T clamp(T k, T lo, T hi) {
  const T below_hi = hi < k ? hi : k;
  return lo > below_hi ? lo : below_hi;
}

// min, max and "saw a NaN" of the input values (torch.aminmax's numbers; see range_segment)
template <class T>
struct Range {
  T mn = (T)INFINITY, mx = -(T)INFINITY;
  int nan = 0;
  void add(const Range& o) {
    mn = o.mn < mn ? o.mn : mn;
    mx = o.mx > mx ? o.mx : mx;
    nan |= o.nan;
  }
};

// one loop per mode (kFix: quantize()'s stand-in for negatives that underflow to -0, the
// smallest subnormal): branch-free bodies the compiler vectorizes. The input's range is
// gathered on the way (a few vector min/max per 16 values): the auto-frac quantizers quantize
// with the frac they expect and use the range to check it (hostsw/quant/tensor_quant.py).
template <class T, int kRounding, bool kFix>
void segment(const T* __restrict x, T* __restrict y, int64_t begin, int64_t end, T up, T down,
             T lo, T hi, uint32_t key, Range<T>& range) {
  const T tiny = std::ldexp((T)1, sizeof(T) == 4 ? -149 : -1074);
  x += begin;
  y += begin;
  const uint32_t base = (uint32_t)begin;  // the flat index wraps like int32 arange
  const uint32_t len = (uint32_t)(end - begin);  // < 2**31 (fused.py's _MAX_NUMEL)
  T mn = (T)INFINITY, mx = -(T)INFINITY;
  int nan = 0;
#ifdef _OPENMP
#pragma omp simd reduction(min : mn) reduction(max : mx) reduction(| : nan)
#endif
  for (uint32_t i = 0; i < len; ++i) {
    const T xi = x[i];
    mn = xi < mn ? xi : mn;
    mx = xi > mx ? xi : mx;
    nan |= xi != xi;
    T s = xi * up;
    // -0 - tiny = -tiny; s - 0 = s for every other s (-0 and NaN included): a subtraction
    // instead of a select keeps the stochastic loop vectorizable
    if (kFix) s -= (s == (T)0) & (xi < (T)0) ? tiny : (T)0;
    T k;
    if (kRounding == 0) {
      k = std::rint(s);  // = nearbyint (torch.round) in the default rounding mode
    } else if (kRounding == 1) {
      k = std::floor(s);
    } else {
      const uint32_t h = lowbias32(key ^ (base + i));
      const T fl = std::floor(s);
      k = fl + (rounds_up(s, fl, h) ? (T)1 : (T)0);
    }
    y[i] = clamp(k, lo, hi) * down;
  }
  range.add(Range<T>{mn, mx, nan});
}

template <class T>
void segment(const T* x, T* y, int64_t begin, int64_t end, T up, T down, T lo, T hi,
             int rounding, int fix, uint32_t key, Range<T>& r) {
  switch (rounding * 2 + (fix ? 1 : 0)) {
    case 0: case 1: return segment<T, 0, false>(x, y, begin, end, up, down, lo, hi, key, r);
    case 2: return segment<T, 1, false>(x, y, begin, end, up, down, lo, hi, key, r);
    case 3: return segment<T, 1, true>(x, y, begin, end, up, down, lo, hi, key, r);
    case 4: return segment<T, 2, false>(x, y, begin, end, up, down, lo, hi, key, r);
    default: return segment<T, 2, true>(x, y, begin, end, up, down, lo, hi, key, r);
  }
}

constexpr int kMaxThreads = 64;
// Below this many elements (256 KB of float32) one thread: a second one would save only a few
// microseconds, and every OpenMP region waits for all its threads, which on a shared machine can
// take a scheduler time slice. (Measured in LeNet-5 training: the 100 k- and 200 k-element
// activations are quicker on two threads, 110 vs 145 and 128 vs 202 us.)
constexpr int64_t kParallelMin = 1 << 16;

template <class T>
int run(const T* x, T* y, int64_t rows, int64_t row_len, const int32_t* fracs, int64_t lo_i,
        int64_t hi_i, int rounding, int fix_underflow, uint32_t key, int threads,
        double* range_out) {
  if (rows < 0 || row_len <= 0 || rounding < 0 || rounding > 2) return 1;
  const T lo = (T)lo_i, hi = (T)hi_i;  // torch converts the clamp bounds to the tensor's dtype
  const int64_t n = rows * row_len;
  const int nt =
      (threads > 1 && n >= kParallelMin) ? (threads < kMaxThreads ? threads : kMaxThreads) : 1;
  Range<T> part[kMaxThreads];
  // contiguous chunks of the flat range, each walked row segment by row segment
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)
#endif
  for (int c = 0; c < nt; ++c) {
    const int64_t begin = n * c / nt, end = n * (c + 1) / nt;
    for (int64_t i = begin; i < end;) {
      const int64_t r = i / row_len, stop = (r + 1) * row_len < end ? (r + 1) * row_len : end;
      segment(x, y, i, stop, std::ldexp((T)1, fracs[r]), std::ldexp((T)1, -fracs[r]), lo, hi,
              rounding, fix_underflow, key, part[c]);
      i = stop;
    }
  }
  if (range_out != nullptr) {
    for (int c = 1; c < nt; ++c) part[0].add(part[c]);
    range_out[0] = (double)part[0].mn;
    range_out[1] = (double)part[0].mx;
    range_out[2] = part[0].nan ? 1.0 : 0.0;
  }
  return 0;
}

// torch.aminmax's two numbers for the auto-frac quantizers (min and max are exact, so the order
// of the reduction does not matter; -0 and +0 may come out either way, which no caller can tell
// apart: max(-lo, hi) and the clip test compare them with non-zero bounds), plus whether x holds
// a NaN (then the caller takes torch's path, whose min/max propagate it). One pass, vectorized.
template <class T>
void range_segment(const T* __restrict x, int64_t begin, int64_t end, double* out) {
  T mn = (T)INFINITY, mx = -(T)INFINITY;
  int nan = 0;
#ifdef _OPENMP
#pragma omp simd reduction(min : mn) reduction(max : mx) reduction(| : nan)
#endif
  for (int64_t i = begin; i < end; ++i) {
    const T v = x[i];
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
    nan |= v != v;
  }
  out[0] = (double)mn;
  out[1] = (double)mx;
  out[2] = nan ? 1.0 : 0.0;
}

template <class T>
int range(const T* x, int64_t n, double* out, int threads) {
  if (n <= 0) return 1;
  const int nt =
      (threads > 1 && n >= kParallelMin) ? (threads < kMaxThreads ? threads : kMaxThreads) : 1;
  double part[kMaxThreads * 3];
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)
#endif
  for (int c = 0; c < nt; ++c) range_segment(x, n * c / nt, n * (c + 1) / nt, part + 3 * c);
  out[0] = part[0];
  out[1] = part[1];
  out[2] = part[2];
  for (int c = 1; c < nt; ++c) {
    out[0] = part[3 * c] < out[0] ? part[3 * c] : out[0];
    out[1] = part[3 * c + 1] > out[1] ? part[3 * c + 1] : out[1];
    out[2] = part[3 * c + 2] != 0.0 ? 1.0 : out[2];
  }
  return 0;
}

}  // namespace

extern "C" {

// rows x row_len elements (row-major, contiguous); row r on the grid 2**-fracs[r];
// rounding 0 nearest (half to even), 1 floor, 2 stochastic; [lo_i, hi_i] the saturation range;
// fix_underflow: quantize()'s treatment of negatives that underflow to -0 (frac < 0, not nearest);
// range_out (may be null): min, max and 1.0 if a NaN was seen, of the input (as hostsw_range_*)
int hostsw_fq_f32(const float* x, float* y, int64_t rows, int64_t row_len, const int32_t* fracs,
                  int64_t lo, int64_t hi, int rounding, int fix_underflow, uint32_t key,
                  int threads, double* range_out) {
  return run<float>(x, y, rows, row_len, fracs, lo, hi, rounding, fix_underflow, key, threads,
                    range_out);
}

int hostsw_fq_f64(const double* x, double* y, int64_t rows, int64_t row_len, const int32_t* fracs,
                  int64_t lo, int64_t hi, int rounding, int fix_underflow, uint32_t key,
                  int threads, double* range_out) {
  return run<double>(x, y, rows, row_len, fracs, lo, hi, rounding, fix_underflow, key, threads,
                     range_out);
}

// The float32 stochastic threshold T of s = xs[i] (floor(s) computed here), for the exhaustive
// test: tests/quant/test_fused.py compares it with round_scaled's threshold for every float32.
void hostsw_fq_threshold_f32(const float* xs, uint32_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = stochastic_threshold(xs[i], std::floor(xs[i]));
}

// out[0], out[1]: min and max of the n contiguous values; out[2]: 1 if one of them is NaN
int hostsw_range_f32(const float* x, int64_t n, double* out, int threads) {
  return range<float>(x, n, out, threads);
}

int hostsw_range_f64(const double* x, int64_t n, double* out, int threads) {
  return range<double>(x, n, out, threads);
}

int hostsw_fq_version() { return 4; }
}
