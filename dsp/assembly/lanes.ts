// Lane helpers: every kernel is written once, generic over V, and compiled for V = f32 (one series,
// the scalar build) and V = v128 (four series side by side as f32x4 lanes, the SIMD build). Each
// helper does the same IEEE operation per lane in both forms, with no fused multiply-add, so the
// two builds give the same bits for every series.

/** Series processed at once: 4 for v128, 1 for f32. */
@inline export function lanes<V>(): i32 {
  return <i32>(sizeof<V>() >> 2);
}

@inline export function splat<V>(x: f32): V {
  if (isVector<V>()) return <V>f32x4.splat(x);
  return <V>x;
}

@inline export function ld<V>(p: usize, i: i32): V {
  return load<V>(p + <usize>i * sizeof<V>());
}

@inline export function st<V>(p: usize, i: i32, v: V): void {
  store<V>(p + <usize>i * sizeof<V>(), v);
}

@inline export function add<V>(a: V, b: V): V {
  if (isVector<V>()) return <V>f32x4.add(<v128>a, <v128>b);
  return <V>(<f32>a + <f32>b);
}

@inline export function sub<V>(a: V, b: V): V {
  if (isVector<V>()) return <V>f32x4.sub(<v128>a, <v128>b);
  return <V>(<f32>a - <f32>b);
}

@inline export function mul<V>(a: V, b: V): V {
  if (isVector<V>()) return <V>f32x4.mul(<v128>a, <v128>b);
  return <V>(<f32>a * <f32>b);
}

@inline export function div<V>(a: V, b: V): V {
  if (isVector<V>()) return <V>f32x4.div(<v128>a, <v128>b);
  return <V>(<f32>a / <f32>b);
}

@inline export function sqrtv<V>(a: V): V {
  if (isVector<V>()) return <V>f32x4.sqrt(<v128>a);
  return <V>Mathf.sqrt(<f32>a);
}

// min and max are the "pseudo" forms, b < a ? b : a and a < b ? b : a: one instruction on x86
// (f32x4.min must order -0 below +0 and propagate NaN, which costs several). Windows holding NaN
// are discarded anyway; a -0/+0 tie may keep either zero.

@inline export function minv<V>(a: V, b: V): V {
  if (isVector<V>()) return <V>f32x4.pmin(<v128>a, <v128>b);
  return <f32>b < <f32>a ? b : a;
}

@inline export function maxv<V>(a: V, b: V): V {
  if (isVector<V>()) return <V>f32x4.pmax(<v128>a, <v128>b);
  return <f32>a < <f32>b ? b : a;
}

/** a > b ? x : y, per lane. */
@inline export function selGt<V>(a: V, b: V, x: V, y: V): V {
  if (isVector<V>()) return <V>v128.bitselect(<v128>x, <v128>y, f32x4.gt(<v128>a, <v128>b));
  return <f32>a > <f32>b ? x : y;
}

/** Lane `l` of v as f32 (l < lanes<V>()). */
@inline export function lane<V>(v: V, l: i32): f32 {
  if (isVector<V>()) {
    switch (l) {
      case 0: return f32x4.extract_lane(<v128>v, 0);
      case 1: return f32x4.extract_lane(<v128>v, 1);
      case 2: return f32x4.extract_lane(<v128>v, 2);
      default: return f32x4.extract_lane(<v128>v, 3);
    }
  }
  return <f32>v;
}

/**
 * Counts sign changes: returns cnt plus one in each lane where a and b lie on different sides of
 * zero (0 counts as non-negative). The count is an i32x4 in the SIMD build and an exact f32 in the
 * scalar build; `countToF32` turns either into f32.
 */
@inline export function countCross<V>(cnt: V, a: V, b: V): V {
  if (isVector<V>()) {
    const z = f32x4.splat(0);
    return <V>i32x4.sub(<v128>cnt, v128.xor(f32x4.lt(<v128>a, z), f32x4.lt(<v128>b, z)));
  }
  return <V>(<f32>cnt + <f32>(<i32>(<f32>a < 0) ^ <i32>(<f32>b < 0)));
}

@inline export function countToF32<V>(cnt: V): V {
  if (isVector<V>()) return <V>f32x4.convert_i32x4_s(<v128>cnt);
  return cnt;
}

@inline export function zeroCount<V>(): V {
  if (isVector<V>()) return <V>i32x4.splat(0);
  return <V>(<f32>0);
}

/** Natural logarithm of positive normal x, the musl logf algorithm with its constants, lane by lane. */
@inline export function logv<V>(x: V): V {
  // musl src/math/logf.c (FreeBSD e_logf.c): x = 2^k (1+f), log(1+f) = f - hfsq + s(hfsq + R(z)).
  if (isVector<V>()) {
    let ix = i32x4.add(<v128>x, i32x4.splat(0x3f800000 - 0x3f3504f3));
    const k = f32x4.convert_i32x4_s(i32x4.sub(i32x4.shr_s(ix, 23), i32x4.splat(0x7f)));
    ix = i32x4.add(v128.and(ix, i32x4.splat(0x007fffff)), i32x4.splat(0x3f3504f3));
    const f = f32x4.sub(ix, f32x4.splat(1));
    const s = f32x4.div(f, f32x4.add(f32x4.splat(2), f));
    const z = f32x4.mul(s, s);
    const w = f32x4.mul(z, z);
    const t1 = f32x4.mul(w, f32x4.add(f32x4.splat(LG2), f32x4.mul(w, f32x4.splat(LG4))));
    const t2 = f32x4.mul(z, f32x4.add(f32x4.splat(LG1), f32x4.mul(w, f32x4.splat(LG3))));
    const r = f32x4.add(t2, t1);
    const hfsq = f32x4.mul(f32x4.mul(f32x4.splat(0.5), f), f);
    const a = f32x4.mul(s, f32x4.add(hfsq, r));
    const b = f32x4.add(a, f32x4.mul(k, f32x4.splat(LN2_LO)));
    return <V>f32x4.add(f32x4.add(f32x4.sub(b, hfsq), f), f32x4.mul(k, f32x4.splat(LN2_HI)));
  }
  let ix = reinterpret<i32>(<f32>x) + (0x3f800000 - 0x3f3504f3);
  const k = <f32>((ix >> 23) - 0x7f);
  ix = (ix & 0x007fffff) + 0x3f3504f3;
  const f = reinterpret<f32>(ix) - <f32>1;
  const s = f / (<f32>2 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (LG2 + w * LG4);
  const t2 = z * (LG1 + w * LG3);
  const r = t2 + t1;
  const hfsq = <f32>0.5 * f * f;
  const a = s * (hfsq + r);
  const b = a + k * LN2_LO;
  return <V>(b - hfsq + f + k * LN2_HI);
}

const LN2_HI: f32 = 6.9313812256e-01; // musl logf.c ln2_hi
const LN2_LO: f32 = 9.0580006145e-06; // musl logf.c ln2_lo
const LG1: f32 = 0.66666662693; // musl logf.c Lg1 (0xaaaaaa.0p-24)
const LG2: f32 = 0.40000972152; // musl logf.c Lg2 (0xccce13.0p-25)
const LG3: f32 = 0.28498786688; // musl logf.c Lg3 (0x91e9ee.0p-25)
const LG4: f32 = 0.24279078841; // musl logf.c Lg4 (0xf89e26.0p-26)
