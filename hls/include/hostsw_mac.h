// hostsw_mac.h -- the training MAC engine: forward, backward-data and backward-weight of Dense and
// Conv2d layers with every precision a RUNTIME argument (header-only, C++14, Vitis HLS / C sim).
//
// Organisation (shared/specs/training-kernels.md, option b): ONE engine per datapath tier with a
// mode register and runtime dimensions up to compiled maxima, as in the published trainers
// (fannymonori/1dcnn-HLS-backprop's `mode` 0/1/2, EF-Train's phase registers). One bitstream then
// trains any MLP / LeNet-sized model at any precision a controller picks: a precision switch is a
// register write, not a rebuild. A Dense layer is the Conv2d case H = W = KH = KW = 1.
//
//   mode 0  fwd         y[b,co,oh,ow]  = sum_{ci,kh,kw} x[b,ci,ih,iw] w[co,ci,kh,kw] + bias[co]
//                       (stride 1: a scatter of the non-zero inputs; else window + dot products)
//   mode 1  bwd-data    dx[b,ci,ih,iw] = sum_{co,kh,kw} dy[b,co,oh,ow] w[co,ci,kh,kw]
//                       (computed as a scatter of the non-zero errors: zero skipping)
//   mode 2  bwd-weight  dw[co,ci,kh,kw] = sum_{b,oh,ow} dy[b,co,oh,ow] x[b,ci,ih,iw],
//                       db[co] = sum_{b,oh,ow} dy[b,co,oh,ow]
//   with ih = oh*stride + kh - pad, iw = ow*stride + kw - pad (zero outside the image).
//
// Conv windows are generated on chip (the window generators below read the tensors in their
// natural NCHW layout); the host never ships im2col-expanded data.
//
// Arithmetic: operands are integers k (value k * 2^-frac, frac known to the host) of at most T
// bits, signed or unsigned, stored as ap_int<T+1>. Products are exact; accumulation is exact in
// 64-bit partial accumulators (tiers 8 and 16: one product per MAC; tier 32 splits each operand
// into a signed 17-bit high and an unsigned 16-bit low half and keeps four partial sums, so every
// multiplier is at most 17x17 bits = one DSP48 and every partial sum fits 64 bits for fan-ins up to
// 2^29). The partial sums and the bias (aligned by a left shift onto the product grid) are combined
// into an exact 128-bit accumulator, then requantized ONCE to the runtime output precision:
// shift right by `shift` with nearest-even / floor / stochastic rounding (the hash dither of
// hostsw_fixed.h, element index = row-major output index), or left by -shift, then saturate,
// symmetric-saturate or wrap to `bits` (<= 64 signed, <= 63 unsigned). This is exactly the
// ap_fixed cast from <128, product grid> to <bits, output grid> (checked against ap_fixed casts by
// hls/tests/requantize_oracle.cpp) and exactly hostsw.fixedpoint.requantize_int in Python.
//
// Cycle counter: the kernel counts the iterations of its pipelined loops (II = 1, `unroll` MACs
// each) and returns the count; on a board this is the on-chip latency in cycles, excluding AXI
// stalls (the board runtime measures wall time too).
#ifndef HOSTSW_MAC_H_
#define HOSTSW_MAC_H_

#include <stdint.h>

#include <ap_int.h>

#include "hostsw_fixed.h"

namespace hostsw {

enum MacMode { MODE_FWD = 0, MODE_BWD_DATA = 1, MODE_BWD_WEIGHT = 2 };
enum Rounding { RND_NEAREST = 0, RND_FLOOR = 1, RND_STOCHASTIC = 2 };
enum Overflow { OVF_SATURATE = 0, OVF_SATURATE_SYM = 1, OVF_WRAP = 2 };

/// Width of the exact accumulator that partial sums, bias and requantizer work in.
static const int kAccWidth = 128;
typedef ap_int<kAccWidth> wide_t;
/// Output words: the requantized result (runtime bits <= 64).
typedef ap_int<64> out_t;

/// Runtime geometry of one call (s_axilite registers).
struct Geometry {
  int batch, in_ch, in_h, in_w, out_ch, k_h, k_w, stride, pad;
  int out_h() const { return (in_h + 2 * pad - k_h) / stride + 1; }
  int out_w() const { return (in_w + 2 * pad - k_w) / stride + 1; }
};

/// Runtime output precision (s_axilite registers): value = k * 2^-(product frac - shift).
struct OutPrecision {
  int shift;       // product-grid frac minus output frac (negative: left shift)
  int bits;        // 1..64 signed, 1..63 unsigned
  bool is_signed;
  int rounding;    // Rounding
  int overflow;    // Overflow
  uint32_t key;    // dither_key(seed, tensor id, step) for stochastic rounding
};

/// Status codes returned (negated) instead of a cycle count when a call breaks a compiled limit.
enum Status { ST_OK = 0, ST_BAD_MODE = 1, ST_BAD_DIMS = 2, ST_TOO_LARGE = 3, ST_BAD_PRECISION = 4 };

// --- the runtime requantizer ------------------------------------------------------------------
/// ap_fixed cast of the exact value v * 2^-F onto <bits, F - shift> with runtime parameters.
inline out_t requantize(const wide_t& v, const OutPrecision& p, uint32_t index) {
#pragma HLS INLINE
  // rounding: q = round(v / 2^shift); the left shift cannot lose bits, so no rounding then
  ap_int<kAccWidth + 66> q;
  if (p.shift > 0) {
    const int s = p.shift;  // 1..kAccWidth-1 (checked by the caller)
    const wide_t fl = v >> s;  // arithmetic: floor
    ap_uint<kAccWidth> mask = 0;
    mask = ~mask;
    mask = mask >> (kAccWidth - s);
    const ap_uint<kAccWidth> rem = ap_uint<kAccWidth>(v) & mask;  // the s discarded bits
    bool up = false;
    if (p.rounding == RND_NEAREST) {
      ap_uint<kAccWidth> half = 1;
      half = half << (s - 1);
      up = rem > half || (rem == half && fl[0] == 1);
    } else if (p.rounding == RND_STOCHASTIC) {
      const int t = s < 32 ? s : 32;  // the top t discarded bits meet the dither
      const uint32_t r_top = (uint32_t)(rem >> (s - t)).to_uint64();
      const uint32_t h = dither(p.key, index);
      up = (t == 32 ? h : (h >> (32 - t))) < r_top;
    }
    q = fl;
    q += (int)up;
  } else {
    q = v;
    q = q << (-p.shift);  // -shift <= 64 (checked by the caller): no bits lost in 194 bits
  }
  // overflow
  ap_int<kAccWidth + 66> hi, lo;
  hi = 1;
  if (p.is_signed) {
    hi = (hi << (p.bits - 1)) - 1;
    lo = -hi - 1;
    if (p.overflow == OVF_SATURATE_SYM && p.bits > 1) lo = -hi;
  } else {
    hi = (hi << p.bits) - 1;
    lo = 0;
  }
  out_t r;
  if (p.overflow == OVF_WRAP) {
    ap_uint<64> low = q.range(63, 0);
    const int drop = 64 - p.bits;
    if (p.is_signed) {
      r = ap_int<64>(low << drop) >> drop;  // sign-extend from bit bits-1
    } else {
      r = ap_int<64>((low << drop) >> drop);
    }
  } else {
    r = q > hi ? out_t(hi) : (q < lo ? out_t(lo) : out_t(q));
  }
  return r;
}

/// The same cast for |v| < 2^62 and 0 <= shift <= 62 in 64-bit arithmetic (the common case:
/// exact outputs); the caller checks the range. Identical results (both implement the one cast;
/// hls/tests and tests/runtime compare every path with the Python reference).
inline out_t requantize64(const ap_int<64>& v, const OutPrecision& p, uint32_t index) {
#pragma HLS INLINE
  const int s = p.shift;
  // the exact output of a 64-bit word: nothing to round, |v| < 2^62 cannot saturate or wrap
  if (s == 0 && p.bits == 64 && p.is_signed) return v;
  ap_int<64> q = v >> s;
  if (s > 0) {
    const ap_int<64> rem = v - (q << s);  // 0 <= rem < 2^s
    bool up = false;
    if (p.rounding == RND_NEAREST) {
      const ap_int<64> half = ap_int<64>(1) << (s - 1);
      up = rem > half || (rem == half && q[0] == 1);
    } else if (p.rounding == RND_STOCHASTIC) {
      const int t = s < 32 ? s : 32;
      const uint32_t r_top = (uint32_t)(rem >> (s - t)).to_uint64();
      const uint32_t h = dither(p.key, index);
      up = (t == 32 ? h : (h >> (32 - t))) < r_top;
    }
    q += (int)up;
  }
  if (p.overflow == OVF_WRAP) {
    const int drop = 64 - p.bits;
    ap_uint<64> low = q;
    if (p.is_signed) return ap_int<64>(low << drop) >> drop;
    return ap_int<64>((low << drop) >> drop);
  }
  // bounds as native 64-bit words (|q| < 2^62 + 1 here)
  int64_t hi, lo;
  if (p.is_signed) {
    hi = p.bits == 64 ? (int64_t)0x7FFFFFFFFFFFFFFFLL : (int64_t)((((uint64_t)1) << (p.bits - 1)) - 1);
    lo = -hi - 1;
    if (p.overflow == OVF_SATURATE_SYM && p.bits > 1) lo = -hi;
  } else {
    hi = (int64_t)((((uint64_t)1) << p.bits) - 1);  // bits <= 63
    lo = 0;
  }
  const int64_t qv = q.to_int64();
  return qv > hi ? out_t(hi) : (qv < lo ? out_t(lo) : out_t(qv));
}

/// |v| < 2^62: the 64-bit requantizer applies (shift range permitting).
inline bool fits62(const ap_int<64>& v) {
#pragma HLS INLINE
  const int64_t x = v.to_int64(), lim = ((int64_t)1) << 62;
  return x < lim && x > -lim;
}

/// Requantize an accumulator held in 64 bits when possible, else in the wide datapath.
template <class MacT>
inline out_t requantize_acc(const MacT& m, const int64_t* bias, int co, int bias_shift,
                            const OutPrecision& p, uint32_t index) {
#pragma HLS INLINE
  ap_int<64> v;
  if (p.shift >= 0 && p.shift <= 62 && m.narrow(v)) {
    bool ok = true;
    if (bias) {
      const int64_t b = bias[co];
      const int64_t lim = ((int64_t)1) << (61 - (bias_shift < 61 ? bias_shift : 61));
      ok = bias_shift < 61 && b < lim && b > -lim;
      if (ok) v += ap_int<64>(b) << bias_shift;
    }
    if (ok && fits62(v)) return requantize64(v, p, index);
  }
  wide_t acc = m.combine();
  if (bias) acc += wide_t(bias[co]) << bias_shift;
  return requantize(acc, p, index);
}

// --- multiply-accumulate per tier ---------------------------------------------------------------
/// Exact partial accumulators; `combine` yields the exact sum.
template <int T, bool kSplit = (T > 16)>
struct Mac;

template <int T>
struct Mac<T, false> {  // tiers up to 16 bits: one (T+1)x(T+1) product per MAC
  typedef ap_int<T + 1> word_t;     // in memory
  typedef ap_int<T + 1> operand_t;  // on chip
  ap_int<64> acc;
  void clear() { acc = 0; }
  void mac(const operand_t& a, const operand_t& b) {
#pragma HLS INLINE
    acc += a * b;
  }
  wide_t combine() const { return wide_t(acc); }
  bool narrow(ap_int<64>& v) const { v = acc; return true; }
  static bool is_zero(const operand_t& a) { return a == 0; }
  static const int kProducts = 1;
};

/// A tier-32 operand on chip: x = h * 2^16 + l, h signed (T+1-16 bits), l unsigned 16 bits (split
/// once when the word is loaded; every multiplier is then at most 17 x 17 bits).
template <int T>
struct SplitWord {
  ap_int<T + 1 - 16> h;
  ap_uint<16> l;
  SplitWord() : h(0), l(0) {}
  SplitWord(const ap_int<T + 1>& x) : h(x >> 16), l(x.range(15, 0)) {}
  SplitWord(int x) { *this = SplitWord(ap_int<T + 1>(x)); }
};

template <int T>
struct Mac<T, true> {  // tier 32: four partial products of the split operands
  typedef ap_int<T + 1> word_t;
  typedef SplitWord<T> operand_t;
  ap_int<64> hh, hl, ll;
  void clear() { hh = 0; hl = 0; ll = 0; }
  void mac(const operand_t& a, const operand_t& b) {
#pragma HLS INLINE
    hh += a.h * b.h;
    hl += a.h * b.l;
    hl += a.l * b.h;
    ll += a.l * b.l;
  }
  wide_t combine() const {
    wide_t r = wide_t(hh) << 32;
    r += wide_t(hl) << 16;
    r += wide_t(ll);
    return r;
  }
  /// the exact sum in 64 bits when the partial sums are small enough (|sum| < 3 * 2^60)
  bool narrow(ap_int<64>& v) const {
    const int64_t a = hh.to_int64(), b = hl.to_int64(), c = ll.to_int64();
    const int64_t l28 = ((int64_t)1) << 28, l44 = ((int64_t)1) << 44, l60 = ((int64_t)1) << 60;
    if (!(a < l28 && a > -l28 && b < l44 && b > -l44 && c < l60 && c > -l60)) return false;
    v = (hh << 32) + (hl << 16) + ll;
    return true;
  }
  static bool is_zero(const operand_t& a) { return a.h == 0 && a.l == 0; }
  static const int kProducts = 4;
};

// --- window generators (on chip: the host ships tensors in NCHW, never im2col) -----------------
/// The fwd / bwd-weight window of output pixel (b, oh, ow): row[(ci*KH + kh)*KW + kw] (zero
/// outside the image). The address generator walks the window rows: one word per cycle.
template <class CONFIG_T, class word_t, class operand_t>
inline uint64_t gather_window(const word_t* x, const Geometry& g, int b, int oh, int ow,
                              operand_t* row) {
  int k = 0;
  const int ih0 = oh * g.stride - g.pad, iw0 = ow * g.stride - g.pad;
WINDOW_C:
  for (int ci = 0; ci < g.in_ch; ci++) {
    const word_t* plane = x + (b * g.in_ch + ci) * g.in_h * g.in_w;
  WINDOW_H:
    for (int kh = 0; kh < g.k_h; kh++) {
      const int ih = ih0 + kh;
      const bool row_in = ih >= 0 && ih < g.in_h;
    WINDOW_W:
      for (int kw = 0; kw < g.k_w; kw++, k++) {
#pragma HLS LOOP_TRIPCOUNT max = 16
#pragma HLS PIPELINE II = 1
        const int iw = iw0 + kw;
        row[k] = (row_in && iw >= 0 && iw < g.in_w) ? operand_t(plane[ih * g.in_w + iw])
                                                     : operand_t(0);
      }
    }
  }
  return (uint64_t)k;
}

/// Exact dot product of two rows of length n (the pipelined, unrolled MAC loop).
template <class CONFIG_T, class MacT>
inline uint64_t dot(const typename MacT::operand_t* a, const typename MacT::operand_t* b, int n,
                    MacT& m) {
  m.clear();
DOT:
  for (int k = 0; k < n; k++) {
#pragma HLS LOOP_TRIPCOUNT max = CONFIG_T::max_fan_in
#pragma HLS PIPELINE II = 1
#pragma HLS UNROLL factor = CONFIG_T::unroll
    m.mac(a[k], b[k]);
  }
  return (uint64_t)((n + CONFIG_T::unroll - 1) / CONFIG_T::unroll);
}

/// Limits of one call against the compiled maxima; ST_OK or the failing Status.
template <class CONFIG_T>
inline int check_call(int mode, const Geometry& g, const OutPrecision& p0,
                      const OutPrecision& p1, int bias_shift) {
  if (mode < MODE_FWD || mode > MODE_BWD_WEIGHT) return ST_BAD_MODE;
  if (g.batch < 1 || g.in_ch < 1 || g.in_h < 1 || g.in_w < 1 || g.out_ch < 1 || g.k_h < 1 ||
      g.k_w < 1 || g.stride < 1 || g.pad < 0 || g.k_h > g.in_h + 2 * g.pad ||
      g.k_w > g.in_w + 2 * g.pad)
    return ST_BAD_DIMS;
  const long fan_in = (long)g.in_ch * g.k_h * g.k_w;
  const long fan_in_t = (long)g.out_ch * g.k_h * g.k_w;
  const long weights = (long)g.out_ch * fan_in;
  const long in_size = (long)g.batch * g.in_ch * g.in_h * g.in_w;
  const long out_size = (long)g.batch * g.out_ch * g.out_h() * g.out_w();
  if (fan_in > CONFIG_T::max_fan_in || fan_in_t > CONFIG_T::max_fan_in ||
      weights > CONFIG_T::max_weights || g.out_ch > CONFIG_T::max_out_ch ||
      in_size > CONFIG_T::max_tensor || out_size > CONFIG_T::max_tensor ||
      (long)g.batch * g.out_h() * g.out_w() > CONFIG_T::max_reduction ||
      (long)g.in_ch * g.in_h * g.in_w > CONFIG_T::max_image ||
      (long)g.out_ch * g.out_h() * g.out_w() > CONFIG_T::max_image)
    return ST_TOO_LARGE;
  const OutPrecision* ps[2] = {&p0, &p1};
  for (int i = 0; i < (mode == MODE_BWD_WEIGHT ? 2 : 1); i++) {
    const OutPrecision& p = *ps[i];
    if (p.bits < 1 || p.bits > (p.is_signed ? 64 : 63) || p.shift >= kAccWidth ||
        p.shift < -64 || p.rounding < 0 || p.rounding > 2 || p.overflow < 0 || p.overflow > 2)
      return ST_BAD_PRECISION;
  }
  if (bias_shift < 0 || bias_shift > kAccWidth - 64) return ST_BAD_PRECISION;
  return ST_OK;
}

/// The engine. Returns the cycle count (>= 0) or -Status.
/// ``idx0`` / ``idx1`` offset the element index of the stochastic dither of y / y2 (0 on the
/// board; the C simulation splits a call over threads, each a separate instance ``INST`` with
/// its own on-chip buffers, and passes each part's position in the whole output).
///   fwd:        a = x [B,Ci,H,W], b = w [Co,Ci,KH,KW], bias [Co] (<< bias_shift; may be null),
///               y = out [B,Co,OH,OW] with p0
///   bwd-data:   a = dy [B,Co,OH,OW], b = w, y = dx [B,Ci,H,W] with p0
///   bwd-weight: a = dy, b = x, y = dw [Co,Ci,KH,KW] with p0, y2 = db [Co] with p1 (may be null)
template <class CONFIG_T, int INST = 0>
int64_t mac_engine(int mode, const Geometry& g, const typename Mac<CONFIG_T::tier>::word_t* a,
                   const typename Mac<CONFIG_T::tier>::word_t* b, const int64_t* bias,
                   int bias_shift, out_t* y, out_t* y2, const OutPrecision& p0,
                   const OutPrecision& p1, uint32_t idx0 = 0, uint32_t idx1 = 0) {
  typedef Mac<CONFIG_T::tier> MacT;
  typedef typename MacT::operand_t operand_t;
  const int st = check_call<CONFIG_T>(mode, g, p0, p1, bias_shift);
  if (st != ST_OK) return -(int64_t)st;

  // on-chip buffers (BRAM/URAM), partitioned by the unroll factor
  static operand_t row[CONFIG_T::max_fan_in];
  static operand_t wbuf[CONFIG_T::max_weights];
  static MacT accs[CONFIG_T::max_weights];
  static MacT dbacc[CONFIG_T::max_out_ch];
  static operand_t dcol[CONFIG_T::max_out_ch];
  static MacT sacc[CONFIG_T::max_image];
#pragma HLS ARRAY_PARTITION variable = row cyclic factor = CONFIG_T::unroll
#pragma HLS ARRAY_PARTITION variable = wbuf cyclic factor = CONFIG_T::unroll

  const int kk = g.k_h * g.k_w;
  const int fan_in = g.in_ch * kk;
  const int oh_n = g.out_h(), ow_n = g.out_w();
  uint64_t cycles = 0;

  if (mode == MODE_FWD && g.stride == 1) {
    // activation-stationary scatter: each non-zero input x[b,ci,ih,iw] adds x * w[co,ci,kh,kw] to
    // the output accumulators of image b (on chip, channel-last so that one input and one kernel
    // tap feed out_ch adjacent accumulators); the zeros of ReLU outputs and image backgrounds
    // cost one cycle each (zero skipping)
    const int nw = g.out_ch * fan_in;
  LOAD_WF:
    for (int co = 0; co < g.out_ch; co++)
      for (int k = 0; k < fan_in; k++) {
#pragma HLS LOOP_TRIPCOUNT max = CONFIG_T::max_fan_in
#pragma HLS PIPELINE II = 1
        wbuf[k * g.out_ch + co] = operand_t(b[co * fan_in + k]);  // [ci][kh][kw][co]
      }
    cycles += nw;
    const int plane = oh_n * ow_n, oimage = g.out_ch * plane;
    for (int bi = 0; bi < g.batch; bi++) {
    CLEAR_Y:
      for (int i = 0; i < oimage; i++) {
#pragma HLS PIPELINE II = 1
        sacc[i].clear();
      }
      cycles += oimage;
      for (int ci = 0; ci < g.in_ch; ci++)
        for (int ih = 0; ih < g.in_h; ih++)
          for (int iw = 0; iw < g.in_w; iw++) {
            const operand_t xv = operand_t(a[((bi * g.in_ch + ci) * g.in_h + ih) * g.in_w + iw]);
            cycles += 1;
            if (MacT::is_zero(xv)) continue;
            const int tw = iw + g.pad;  // ow = tw - kw
            const int kw_lo = tw - (ow_n - 1) > 0 ? tw - (ow_n - 1) : 0;
            const int kw_hi = tw + 1 < g.k_w ? tw + 1 : g.k_w;
            for (int kh = 0; kh < g.k_h; kh++) {
              const int oh = ih + g.pad - kh;
              if (oh < 0 || oh >= oh_n) continue;
              for (int kw = kw_lo; kw < kw_hi; kw++) {
                MacT* acc = &sacc[(oh * ow_n + tw - kw) * g.out_ch];
                const operand_t* wr = &wbuf[((ci * g.k_h + kh) * g.k_w + kw) * g.out_ch];
              SCATTER_FWD:
                for (int co = 0; co < g.out_ch; co++) {
#pragma HLS LOOP_TRIPCOUNT max = CONFIG_T::max_out_ch
#pragma HLS PIPELINE II = 1
#pragma HLS UNROLL factor = CONFIG_T::unroll
#pragma HLS DEPENDENCE variable = sacc inter false
                  acc[co].mac(xv, wr[co]);
                }
                cycles += (uint64_t)((g.out_ch + CONFIG_T::unroll - 1) / CONFIG_T::unroll);
              }
            }
          }
    STORE_Y:
      for (int co = 0; co < g.out_ch; co++)
        for (int p = 0; p < plane; p++) {
#pragma HLS PIPELINE II = 1
          const int o = bi * oimage + co * plane + p;
          y[o] = requantize_acc(sacc[p * g.out_ch + co], bias, co, bias_shift, p0, idx0 + (uint32_t)o);
        }
      cycles += oimage;
    }
  } else if (mode == MODE_FWD) {  // strided convolution: window generator + dot products
    const int nw = g.out_ch * fan_in;
  LOAD_W:
    for (int i = 0; i < nw; i++) {
#pragma HLS LOOP_TRIPCOUNT max = CONFIG_T::max_weights
#pragma HLS PIPELINE II = 1
      wbuf[i] = operand_t(b[i]);
    }
    cycles += nw;
    for (int bi = 0; bi < g.batch; bi++)
      for (int oh = 0; oh < oh_n; oh++)
        for (int ow = 0; ow < ow_n; ow++) {
          cycles += gather_window<CONFIG_T>(a, g, bi, oh, ow, row);
          for (int co = 0; co < g.out_ch; co++) {
            MacT m;
            cycles += dot<CONFIG_T>(row, &wbuf[co * fan_in], fan_in, m);
            const int o = ((bi * g.out_ch + co) * oh_n + oh) * ow_n + ow;
            y[o] = requantize_acc(m, bias, co, bias_shift, p0, idx0 + (uint32_t)o);
          }
        }
  } else if (mode == MODE_BWD_DATA) {
    // error-stationary scatter: each non-zero error dy[b,co,oh,ow] adds dy * w[co,ci,kh,kw] to the
    // input-gradient accumulators of image b (on chip, channel-last), so the zeros that ReLU and
    // max pooling put into the error cost one cycle each instead of a dot product
    const int nw = g.out_ch * fan_in;
  LOAD_WD:
    for (int co = 0; co < g.out_ch; co++)
      for (int ci = 0; ci < g.in_ch; ci++)
        for (int k = 0; k < kk; k++) {
#pragma HLS PIPELINE II = 1
          wbuf[(co * kk + k) * g.in_ch + ci] = operand_t(b[(co * g.in_ch + ci) * kk + k]);
        }
    cycles += nw;
    const int iplane = g.in_h * g.in_w, image = g.in_ch * iplane;
    for (int bi = 0; bi < g.batch; bi++) {
    CLEAR_DX:
      for (int i = 0; i < image; i++) {
#pragma HLS PIPELINE II = 1
        sacc[i].clear();
      }
      cycles += image;
      for (int oh = 0; oh < oh_n; oh++)
        for (int ow = 0; ow < ow_n; ow++)
          for (int co = 0; co < g.out_ch; co++) {
            const operand_t d = operand_t(a[((bi * g.out_ch + co) * oh_n + oh) * ow_n + ow]);
            cycles += 1;
            if (MacT::is_zero(d)) continue;
            for (int kh = 0; kh < g.k_h; kh++) {
              const int ih = oh * g.stride + kh - g.pad;
              if (ih < 0 || ih >= g.in_h) continue;
              for (int kw = 0; kw < g.k_w; kw++) {
                const int iw = ow * g.stride + kw - g.pad;
                if (iw < 0 || iw >= g.in_w) continue;
                MacT* acc = &sacc[(ih * g.in_w + iw) * g.in_ch];
                const operand_t* wr = &wbuf[((co * g.k_h + kh) * g.k_w + kw) * g.in_ch];
              SCATTER_DX:
                for (int ci = 0; ci < g.in_ch; ci++) {
#pragma HLS LOOP_TRIPCOUNT max = CONFIG_T::max_fan_in
#pragma HLS PIPELINE II = 1
#pragma HLS UNROLL factor = CONFIG_T::unroll
#pragma HLS DEPENDENCE variable = sacc inter false
                  acc[ci].mac(d, wr[ci]);
                }
                cycles += (uint64_t)((g.in_ch + CONFIG_T::unroll - 1) / CONFIG_T::unroll);
              }
            }
          }
    STORE_DX:
      for (int ci = 0; ci < g.in_ch; ci++)
        for (int p = 0; p < iplane; p++) {
#pragma HLS PIPELINE II = 1
          const int o = bi * image + ci * iplane + p;
          y[o] = requantize_acc(sacc[p * g.in_ch + ci], (const int64_t*)0, 0, 0, p0, idx0 + (uint32_t)o);
        }
      cycles += image;
    }
  } else {  // MODE_BWD_WEIGHT: output-stationary accumulators, one outer product per position
    const int nw = g.out_ch * fan_in;
  CLEAR:
    for (int i = 0; i < nw; i++) {
#pragma HLS PIPELINE II = 1
      accs[i].clear();
    }
    for (int co = 0; co < g.out_ch; co++) dbacc[co].clear();
    cycles += nw;
    const operand_t one = 1;
    for (int bi = 0; bi < g.batch; bi++)
      for (int oh = 0; oh < oh_n; oh++)
        for (int ow = 0; ow < ow_n; ow++) {
          // the errors of this position: when all are zero (ReLU and pooling zero most), the
          // window is not even generated
          bool any = false;
        DCOL:
          for (int co = 0; co < g.out_ch; co++) {
#pragma HLS LOOP_TRIPCOUNT max = CONFIG_T::max_out_ch
#pragma HLS PIPELINE II = 1
            dcol[co] = operand_t(a[((bi * g.out_ch + co) * oh_n + oh) * ow_n + ow]);
            any |= !MacT::is_zero(dcol[co]);
          }
          cycles += g.out_ch;
          if (!any) continue;
          cycles += gather_window<CONFIG_T>(b, g, bi, oh, ow, row);
          for (int co = 0; co < g.out_ch; co++) {
            const operand_t d = dcol[co];
            if (MacT::is_zero(d)) continue;  // zero skipping
            dbacc[co].mac(d, one);
            MacT* acc = &accs[co * fan_in];
          OUTER:
            for (int k = 0; k < fan_in; k++) {
#pragma HLS LOOP_TRIPCOUNT max = CONFIG_T::max_fan_in
#pragma HLS PIPELINE II = 1
#pragma HLS UNROLL factor = CONFIG_T::unroll
#pragma HLS DEPENDENCE variable = accs inter false
              acc[k].mac(d, row[k]);
            }
            cycles += (uint64_t)((fan_in + CONFIG_T::unroll - 1) / CONFIG_T::unroll);
          }
        }
  STORE_DW:
    for (int i = 0; i < nw; i++) {
#pragma HLS PIPELINE II = 1
      y[i] = requantize_acc(accs[i], (const int64_t*)0, 0, 0, p0, idx0 + (uint32_t)i);
    }
    cycles += nw;
    if (y2) {
      for (int co = 0; co < g.out_ch; co++)
        y2[co] = requantize_acc(dbacc[co], (const int64_t*)0, 0, 0, p1, idx1 + (uint32_t)co);
      cycles += g.out_ch;
    }
  }
  return (int64_t)cycles;
}

}  // namespace hostsw

#endif  // HOSTSW_MAC_H_
