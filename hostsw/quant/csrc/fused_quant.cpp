// fused_quant.cpp -- one pass per tensor of hostsw.fixedpoint.quantize's float algorithm
// (scale, dither, round, saturate, scale back) for the training quantizers.
//
// This is a faster copy of ``hostsw.fixedpoint._quantize_tensor`` (round_scaled + apply_overflow
// for the saturating modes), not new semantics: every line mirrors a torch operation there, in
// the same dtype, and tests/quant/test_fused.py checks it bit for bit against that reference
// (which tests/fixedpoint checks against ap_fixed). The dither is the lowbias32 hash of
// hls/include/hostsw_fixed.h (repeated here because that header needs ap_types).
//
// Built by hostsw/quant/fused.py with the host C++ compiler, -ffp-contract=off, no fast-math.
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

// Stochastic rounding rounds s up iff h < floor(fraction(s) * 2**32). With W = floor(s * 2**32)
// (exact: power-of-two scaling; float32 s has 24 significant bits, so W does too) that threshold
// is W - floor(s) * 2**32: an integer in [0, 2**32), so the float64 subtraction of the two exact
// operands is exact too -- the same number round_scaled derives through an int64 cast, without
// a cast that does not vectorize. For |s| beyond the fraction bits both terms are equal (0, no
// round-up); inf and NaN give NaN, which compares false (round_scaled's threshold there is 0).
inline bool rounds_up(float s, float fl, uint32_t h) {
  return (double)h < (double)std::floor(s * 4294967296.0f) - (double)fl * 4294967296.0;
}

inline bool rounds_up(double s, double fl, uint32_t h) {
  return (double)h < std::floor(s * 4294967296.0) - fl * 4294967296.0;
}

// torch.clamp_ with scalar bounds: NaN stays NaN (both comparisons are false)
template <class T>
inline T clamp(T k, T lo, T hi) {
  return k < lo ? lo : (k > hi ? hi : k);
}

// one loop per mode (kFix: quantize()'s stand-in for negatives that underflow to -0, the
// smallest subnormal): branch-free bodies the compiler vectorizes
template <class T, int kRounding, bool kFix>
void segment(const T* __restrict x, T* __restrict y, int64_t begin, int64_t end, T up, T down,
             T lo, T hi, uint32_t key) {
  const T tiny = std::ldexp((T)1, sizeof(T) == 4 ? -149 : -1074);
  for (int64_t i = begin; i < end; ++i) {
    T s = x[i] * up;
    if (kFix) s = (s == 0 && x[i] < 0) ? -tiny : s;
    T k;
    if (kRounding == 0) {
      k = std::rint(s);  // = nearbyint (torch.round) in the default rounding mode
    } else if (kRounding == 1) {
      k = std::floor(s);
    } else {
      const uint32_t h = lowbias32(key ^ (uint32_t)i);  // the flat index wraps like int32 arange
      const T fl = std::floor(s);
      k = fl + (T)rounds_up(s, fl, h);
    }
    y[i] = clamp(k, lo, hi) * down;
  }
}

template <class T>
void segment(const T* x, T* y, int64_t begin, int64_t end, T up, T down, T lo, T hi,
             int rounding, int fix, uint32_t key) {
  switch (rounding * 2 + (fix ? 1 : 0)) {
    case 0: case 1: return segment<T, 0, false>(x, y, begin, end, up, down, lo, hi, key);
    case 2: return segment<T, 1, false>(x, y, begin, end, up, down, lo, hi, key);
    case 3: return segment<T, 1, true>(x, y, begin, end, up, down, lo, hi, key);
    case 4: return segment<T, 2, false>(x, y, begin, end, up, down, lo, hi, key);
    default: return segment<T, 2, true>(x, y, begin, end, up, down, lo, hi, key);
  }
}

template <class T>
int run(const T* x, T* y, int64_t rows, int64_t row_len, const int32_t* fracs, int64_t lo_i,
        int64_t hi_i, int rounding, int fix_underflow, uint32_t key, int threads) {
  if (rows < 0 || row_len <= 0 || rounding < 0 || rounding > 2) return 1;
  const T lo = (T)lo_i, hi = (T)hi_i;  // torch converts the clamp bounds to the tensor's dtype
  const int64_t n = rows * row_len;
  int nt = (threads > 1 && n >= 65536) ? threads : 1;
  // contiguous chunks of the flat range, each walked row segment by row segment
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static, 1)
#endif
  for (int c = 0; c < nt; ++c) {
    const int64_t begin = n * c / nt, end = n * (c + 1) / nt;
    for (int64_t i = begin; i < end;) {
      const int64_t r = i / row_len, stop = (r + 1) * row_len < end ? (r + 1) * row_len : end;
      segment(x, y, i, stop, std::ldexp((T)1, fracs[r]), std::ldexp((T)1, -fracs[r]), lo, hi,
              rounding, fix_underflow, key);
      i = stop;
    }
  }
  return 0;
}

}  // namespace

extern "C" {

// rows x row_len elements (row-major, contiguous); row r on the grid 2**-fracs[r];
// rounding 0 nearest (half to even), 1 floor, 2 stochastic; [lo_i, hi_i] the saturation range;
// fix_underflow: quantize()'s treatment of negatives that underflow to -0 (frac < 0, not nearest)
int hostsw_fq_f32(const float* x, float* y, int64_t rows, int64_t row_len, const int32_t* fracs,
                  int64_t lo, int64_t hi, int rounding, int fix_underflow, uint32_t key,
                  int threads) {
  return run<float>(x, y, rows, row_len, fracs, lo, hi, rounding, fix_underflow, key, threads);
}

int hostsw_fq_f64(const double* x, double* y, int64_t rows, int64_t row_len, const int32_t* fracs,
                  int64_t lo, int64_t hi, int rounding, int fix_underflow, uint32_t key,
                  int threads) {
  return run<double>(x, y, rows, row_len, fracs, lo, hi, rounding, fix_underflow, key, threads);
}

int hostsw_fq_version() { return 1; }
}
